/* test_grow.c — unit tests of common/grow: arrays and byte buffers grow by doubling up to
 * their cap, refuse past it (and on size overflow) without changing anything. */
#include "common/grow.h"
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_array_doubles_from_first)
{
    int *v = NULL;
    size_t cap = 0;
    ck_assert_int_eq(grow_array(&v, &cap, 1, sizeof *v, 4, 100), 0);
    ck_assert_uint_eq(cap, 4);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < 4; i++)
        v[i] = i;
    ck_assert_int_eq(grow_array(&v, &cap, 4, sizeof *v, 4, 100), 0); /* room already */
    ck_assert_uint_eq(cap, 4);
    ck_assert_int_eq(grow_array(&v, &cap, 5, sizeof *v, 4, 100), 0);
    ck_assert_uint_eq(cap, 8);
    ck_assert_int_eq(grow_array(&v, &cap, 33, sizeof *v, 4, 100), 0);
    ck_assert_uint_eq(cap, 64);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(v[i], i); /* contents kept */
    free(v);
}
END_TEST

START_TEST(test_array_cap_is_a_hard_limit)
{
    int *v = NULL;
    size_t cap = 0;
    ck_assert_int_eq(grow_array(&v, &cap, 60, sizeof *v, 16, 100), 0);
    ck_assert_uint_eq(cap, 64);
    ck_assert_int_eq(grow_array(&v, &cap, 65, sizeof *v, 16, 100), 0);
    ck_assert_uint_eq(cap, 100); /* clipped to max, not 128 */
    int *before = v;
    ck_assert_int_eq(grow_array(&v, &cap, 101, sizeof *v, 16, 100), -1);
    ck_assert_ptr_eq(v, before); /* nothing changed */
    ck_assert_uint_eq(cap, 100);
    free(v);
}
END_TEST

START_TEST(test_array_size_overflow_refused)
{
    char **v = NULL;
    size_t cap = 0;
    /* max elements whose byte size overflows size_t */
    ck_assert_int_eq(grow_array(&v, &cap, 2, sizeof *v, 1, SIZE_MAX / 2), -1);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(cap, 0);
    ck_assert_int_eq(grow_array(&v, &cap, 1, 0, 1, 10), -1); /* zero element size */
}
END_TEST

START_TEST(test_gbuf_appends_and_terminates)
{
    struct gbuf b = GBUF_INIT(10000);
    ck_assert_int_eq(gbuf_append(&b, "abc", 3), 0);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_str_eq(b.data, "abc");
    char big[6000];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(gbuf_append(&b, big, sizeof big), 0); /* past GBUF_FIRST */
    ck_assert_uint_eq(b.len, 6003);
    ck_assert_int_eq(b.data[6003], '\0');
    ck_assert_int_eq(memcmp(b.data, "abcxxx", 6), 0);
    gbuf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    gbuf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_gbuf_max_is_exact)
{
    struct gbuf b = GBUF_INIT(8);
    ck_assert_int_eq(gbuf_append(&b, "12345678", 8), 0); /* exactly max */
    ck_assert_str_eq(b.data, "12345678");
    ck_assert_uint_le(b.cap, 9); /* a small cap allocates no more than it allows */
    ck_assert_int_eq(gbuf_append(&b, "9", 1), -1); /* one past: refused */
    ck_assert_str_eq(b.data, "12345678");          /* unchanged */
    ck_assert_uint_eq(b.len, 8);
    ck_assert_int_eq(gbuf_append(&b, "", 0), 0);
    gbuf_free(&b);
    struct gbuf c = GBUF_INIT(SIZE_MAX);
    ck_assert_int_eq(gbuf_append(&c, "a", 1), -1); /* a max that leaves no room for the NUL */
    struct gbuf d = GBUF_INIT(100);
    ck_assert_int_eq(gbuf_append(&d, "ab", 2), 0);
    ck_assert_int_eq(gbuf_reserve(&d, SIZE_MAX - 1), -1); /* len + n overflows */
    ck_assert_uint_eq(d.len, 2);
    gbuf_free(&d);
}
END_TEST

static Suite *grow_suite(void)
{
    Suite *s = suite_create("grow");
    TCase *tc = tcase_create("grow");
    tcase_add_test(tc, test_array_doubles_from_first);
    tcase_add_test(tc, test_array_cap_is_a_hard_limit);
    tcase_add_test(tc, test_array_size_overflow_refused);
    tcase_add_test(tc, test_gbuf_appends_and_terminates);
    tcase_add_test(tc, test_gbuf_max_is_exact);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(grow_suite)
