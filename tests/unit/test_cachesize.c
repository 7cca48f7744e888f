/* test_cachesize.c — --cache-mb auto: the rule, the /proc and cgroup parsers, the option. */
#include "server/cachesize.h"
#include "tests/unit/unit.h"

#include <stdint.h>
#include <string.h>

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

START_TEST(test_rule)
{
    /* 1/16 of what is available, within [4, 256] */
    ck_assert_int_eq(cachesize_auto_mib(1 * GIB, UINT64_MAX, 0), 64);
    ck_assert_int_eq(cachesize_auto_mib(24 * GIB, UINT64_MAX, 0), CACHE_AUTO_MAX_MIB);
    ck_assert_int_eq(cachesize_auto_mib(32 * MIB, UINT64_MAX, 0), CACHE_AUTO_MIN_MIB);
    ck_assert_int_eq(cachesize_auto_mib(0, UINT64_MAX, 0), CACHE_AUTO_MIN_MIB);
    /* a cgroup limit counts what is left of it, when that is less than MemAvailable */
    ck_assert_int_eq(cachesize_auto_mib(24 * GIB, 512 * MIB, 0), 32);
    ck_assert_int_eq(cachesize_auto_mib(24 * GIB, 512 * MIB, 256 * MIB), 16);
    ck_assert_int_eq(cachesize_auto_mib(24 * GIB, 512 * MIB, 600 * MIB), CACHE_AUTO_MIN_MIB);
    ck_assert_int_eq(cachesize_auto_mib(128 * MIB, 8 * GIB, 0), 8); /* MemAvailable is less */
}
END_TEST

START_TEST(test_meminfo)
{
    uint64_t b = 0;
    ck_assert(cachesize_parse_meminfo("MemTotal:       24000000 kB\nMemFree:         1000 kB\n"
                                      "MemAvailable:   20971520 kB\nBuffers: 1 kB\n",
                                      &b));
    ck_assert_uint_eq(b, 20ull * GIB);
    ck_assert(cachesize_parse_meminfo("MemAvailable: 1 kB", &b)); /* last line, no newline */
    ck_assert_uint_eq(b, 1024);
    ck_assert(!cachesize_parse_meminfo("MemTotal: 5 kB\nMemFree: 4 kB\n", &b));
    ck_assert(!cachesize_parse_meminfo("MemAvailable: lots kB\n", &b));
    ck_assert(!cachesize_parse_meminfo("MemAvailable: 12 MB\n", &b));
    ck_assert(!cachesize_parse_meminfo("MemAvailable: 99999999999999999999999 kB\n", &b));
    ck_assert(!cachesize_parse_meminfo("", &b));
}
END_TEST

START_TEST(test_limit)
{
    uint64_t b = 0;
    ck_assert(cachesize_parse_limit("max\n", &b));
    ck_assert_uint_eq(b, UINT64_MAX);
    ck_assert(cachesize_parse_limit("536870912\n", &b));
    ck_assert_uint_eq(b, 512 * MIB);
    ck_assert(cachesize_parse_limit("4096", &b));
    ck_assert_uint_eq(b, 4096);
    ck_assert(!cachesize_parse_limit("", &b));
    ck_assert(!cachesize_parse_limit("12 34\n", &b));
    ck_assert(!cachesize_parse_limit("-1\n", &b));
    ck_assert(!cachesize_parse_limit("maximum\n", &b));
}
END_TEST

START_TEST(test_option)
{
    long long mib = -1;
    bool a = false;
    ck_assert(cachesize_parse_option("auto", &mib, &a));
    ck_assert(a);
    ck_assert(cachesize_parse_option("0", &mib, &a));
    ck_assert(!a);
    ck_assert_int_eq(mib, 0);
    ck_assert(cachesize_parse_option("128", &mib, &a));
    ck_assert_int_eq(mib, 128);
    ck_assert(cachesize_parse_option("65536", &mib, &a));
    const char *bad[] = {
        "", "AUTO", "-1", "+5", " 5", "5 ", "65537", "1e3", "12MB", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!cachesize_parse_option(bad[i], &mib, &a), "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_here)
{
    /* on this machine: within the bounds, with an account for the log */
    char why[256] = "";
    long long mib = cachesize_auto_here(why, sizeof why);
    ck_assert_int_ge(mib, CACHE_AUTO_MIN_MIB);
    ck_assert_int_le(mib, CACHE_AUTO_MAX_MIB);
    ck_assert_int_gt((int)strlen(why), 0);
}
END_TEST

static Suite *cachesize_suite(void)
{
    Suite *s = suite_create("cachesize");
    TCase *tc = tcase_create("auto");
    tcase_add_test(tc, test_rule);
    tcase_add_test(tc, test_meminfo);
    tcase_add_test(tc, test_limit);
    tcase_add_test(tc, test_option);
    tcase_add_test(tc, test_here);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(cachesize_suite)
