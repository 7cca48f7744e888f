/* test_hash.c — common/hash: FNV-1a against the published 64-bit test vectors, and the
 * seeded form as FNV-1a from the basis mixed with the process's seed. */
#include "common/hash.h"
#include "tests/unit/unit.h"

#include <string.h>

START_TEST(test_fnv1a_vectors)
{
    /* the FNV authors' test vectors for FNV-1a, 64 bits */
    ck_assert_uint_eq(hash_fnv1a_from(HASH_FNV_OFFSET, "", 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(hash_fnv1a_from(HASH_FNV_OFFSET, "a", 1), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(hash_fnv1a_from(HASH_FNV_OFFSET, "foobar", 6), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_seeded)
{
    uint64_t seed = hash_seed();
    ck_assert_uint_eq(hash_seed(), seed); /* one seed for the life of the process */
    static const char *const keys[] = {"", "a", "room-1", "obj-00000042", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        size_t n = strlen(keys[i]);
        uint64_t want = hash_fnv1a_from(HASH_FNV_OFFSET ^ seed, keys[i], n);
        ck_assert_uint_eq(hash_seeded(keys[i], n), want);
        ck_assert_uint_eq(hash_seeded_str(keys[i]), want);
    }
    /* the length counts, not a NUL */
    ck_assert_uint_ne(hash_seeded("ab", 2), hash_seeded("ab\0", 3));
}
END_TEST

static Suite *hash_suite(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, test_fnv1a_vectors);
    tcase_add_test(tc, test_seeded);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(hash_suite)
