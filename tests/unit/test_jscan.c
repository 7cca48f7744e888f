/* test_jscan.c — bench/jscan.c, the load generator's frame scanner: the keys it picks and
 * their values (numbers equal to strtod's, on the fast path and off it), other values of any
 * shape skipped, arrays of messages, the callback's stop, and malformed frames: every
 * truncation of a valid frame, in an exact-size buffer (ASan: no read past its end). */
#include "bench/jscan.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 8

struct seen {
    int n, stop_after;
    struct jscan_msg m[MAX_SEEN];
};

static int collect(void *arg, const struct jscan_msg *m)
{
    struct seen *s = arg;
    if (s->n < MAX_SEEN)
        s->m[s->n] = *m;
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* jscan_frame over an exact-size heap copy of text (no NUL after it). */
static int scan(const char *text, size_t len, struct seen *s)
{
    char *buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, text, len);
    memset(s->m, 0, sizeof s->m);
    s->n = 0;
    int r = jscan_frame(buf, len, collect, s);
    free(buf);
    return r;
}

static bool raw_is(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

START_TEST(test_keys_and_values)
{
    static const char f[] =
        "{\"op\":3,\"seq\":41,\"from\":\"u\\\"1\",\"t\":1733300000123.25,\"c\":-7,"
        "\"epoch\":2,\"code\":\"rate_limited\",\"object_id\":\"lamp-1\","
        "\"props\":{\"a\":[1,{\"b\":\"]}\\\\\"},null],\"c\":99},\"extra\":true}";
    struct seen s = {0};
    ck_assert_int_eq(scan(f, sizeof f - 1, &s), 1);
    ck_assert_int_eq(s.n, 1);
    const struct jscan_msg *m = &s.m[0];
    ck_assert(m->has_op && m->op == 3);
    ck_assert(m->has_seq && m->seq == 41);
    ck_assert(m->has_c && m->c == -7); /* the nested "c" of props is not the message's */
    ck_assert(m->has_epoch && m->epoch == 2);
    ck_assert(m->has_t && m->t == 1733300000123.25);
    ck_assert(raw_is(m->from, m->from_len, "u\\\"1")); /* raw bytes, escapes kept */
    ck_assert(raw_is(m->code, m->code_len, "rate_limited"));
    ck_assert(raw_is(m->object_id, m->object_id_len, "lamp-1"));
}
END_TEST

START_TEST(test_numbers_match_strtod)
{
    static const char *const nums[] = {
        "0",
        "-0",
        "1",
        "0.1",
        "-0.25",
        "123456789012345",
        "1.5e3",
        "2E-2",
        "1e308",
        "0.000001",
        "9007199254740993",
        "3.14159265358979",
        "1234567890.123456",
        "-98765.4321",
        "17.0",
    };
    char f[128];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        struct seen s = {0};
        int n = snprintf(f, sizeof f, "{\"t\":%s}", nums[i]);
        ck_assert_msg(scan(f, (size_t)n, &s) == 1, "%s: not scanned", nums[i]);
        ck_assert_msg(s.m[0].has_t && s.m[0].t == strtod(nums[i], NULL), "%s: %.17g vs %.17g",
                      nums[i], s.m[0].t, strtod(nums[i], NULL));
    }
    /* not numbers, and numbers out of a double's normal range (strtod's ERANGE); the
     * scanner is no validator: "1." (not JSON) is read as strtod reads it, 1 */
    static const char *const bad[] = {"{\"t\":-}", "{\"t\":1e}", "{\"t\":--1}", "{\"t\":1e400}",
                                      "{\"t\":5e-324}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        ck_assert_int_eq(scan(bad[i], strlen(bad[i]), &s), -1);
    }
}
END_TEST

START_TEST(test_arrays_and_stop)
{
    static const char f[] = " [ {\"seq\":1} , {\"seq\":2},{}, {\"seq\":4} ] \n";
    struct seen s = {0};
    ck_assert_int_eq(scan(f, sizeof f - 1, &s), 4);
    ck_assert(s.m[0].seq == 1 && s.m[1].seq == 2 && !s.m[2].has_seq && s.m[3].seq == 4);
    s.stop_after = 2;
    ck_assert_int_eq(scan(f, sizeof f - 1, &s), 2);
    ck_assert_int_eq(s.n, 2);
    s.stop_after = 0;
    ck_assert_int_eq(scan("[]", 2, &s), 0);
    ck_assert_int_eq(scan("[ ]", 3, &s), 0);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const bad[] = {
        "",           "   ",         "x",      "{",       "{\"op\"}",  "{\"op\":}",
        "{\"op\" 1}", "{\"op\":1,}", "{op:1}", "[{}",     "[{},]",     "[{} {}]",
        "{} {}",      "{}x",         "[1]",    "\"str\"", "{\"a\":]}", "{\"a\":[}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        ck_assert_msg(scan(bad[i], strlen(bad[i]), &s) == -1, "accepted: %s", bad[i]);
    }
}
END_TEST

START_TEST(test_every_truncation)
{
    static const char f[] = "[{\"op\":3,\"seq\":12,\"t\":1.5,\"from\":\"a\\\\\",\"v\":[1,2,{\"x\":"
                            "\"}\"}]},{\"seq\":13,\"code\":\"c\"}]";
    struct seen s = {0};
    ck_assert_int_eq(scan(f, sizeof f - 1, &s), 2);
    /* every proper prefix: malformed (or, cut after whole messages, still never more than
     * the messages it holds), and never a read past the end (exact-size buffers) */
    for (size_t len = 0; len < sizeof f - 1; len++) {
        int r = scan(f, len, &s);
        ck_assert_msg(r == -1, "prefix of %zu bytes gave %d", len, r);
        ck_assert_int_le(s.n, 2);
    }
}
END_TEST

static Suite *jscan_suite(void)
{
    Suite *su = suite_create("jscan");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, test_keys_and_values);
    tcase_add_test(tc, test_numbers_match_strtod);
    tcase_add_test(tc, test_arrays_and_stop);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_every_truncation);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_SUITE(jscan_suite)
