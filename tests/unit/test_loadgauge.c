/* test_loadgauge.c — the relay's busy share and the flush spacing it gives (relay/loadgauge.c). */
#include "relay/loadgauge.h"
#include "tests/unit/unit.h"

#define MS 1000000LL

START_TEST(test_spacing_rule)
{
    ck_assert_int_eq(loadgauge_spacing_us(0.0, 10), 0);
    ck_assert_int_eq(loadgauge_spacing_us(LOADGAUGE_LOW, 10), 0);
    ck_assert_int_eq(loadgauge_spacing_us(0.5, 10), 5000); /* halfway between LOW and HIGH */
    ck_assert_int_eq(loadgauge_spacing_us(LOADGAUGE_HIGH, 10), 10000);
    ck_assert_int_eq(loadgauge_spacing_us(1.0, 10), 10000);
    ck_assert_int_eq(loadgauge_spacing_us(1.0, 0), 0); /* cap 0: never spaced */
    ck_assert_int_eq(loadgauge_spacing_us(0.9, 50), 50000);
    /* monotonic in the busy share */
    int64_t prev = -1;
    for (int i = 0; i <= 100; i++) {
        int64_t v = loadgauge_spacing_us(i / 100.0, 10);
        ck_assert_int_ge(v, prev);
        ck_assert_int_le(v, 10000);
        prev = v;
    }
}
END_TEST

START_TEST(test_sampling)
{
    struct loadgauge g = {0};
    loadgauge_sample(&g, 1000 * MS, 0); /* first sample: a starting point only */
    ck_assert(g.started);
    ck_assert(g.busy == 0);
    /* 50 ms on the wall, 50 ms on the CPU: halfway to 1 */
    loadgauge_sample(&g, 1050 * MS, 50 * MS);
    ck_assert(g.busy > 0.49 && g.busy < 0.51);
    loadgauge_sample(&g, 1100 * MS, 100 * MS);
    ck_assert(g.busy > 0.74 && g.busy < 0.76);
    /* more CPU than wall time (rounding) counts as fully busy */
    loadgauge_sample(&g, 1150 * MS, 200 * MS);
    ck_assert(g.busy > 0.87 && g.busy < 0.88);
    /* idle for a while: falls back under LOW within a few samples (~100 ms per halving) */
    int64_t wall = 1150 * MS;
    for (int i = 0; i < 3; i++) {
        wall += 50 * MS;
        loadgauge_sample(&g, wall, 200 * MS);
    }
    ck_assert(g.busy < LOADGAUGE_LOW);
    ck_assert_int_eq(loadgauge_spacing_us(g.busy, 10), 0);
    /* too close together, or time going backwards: ignored */
    double before = g.busy;
    loadgauge_sample(&g, wall + MS / 2, 200 * MS + MS / 2);
    ck_assert(g.busy == before);
    loadgauge_sample(&g, wall + 50 * MS, 100 * MS);
    ck_assert(g.busy == before);
}
END_TEST

START_TEST(test_thread_cpu_advances)
{
    int64_t a = loadgauge_thread_cpu_ns();
    volatile unsigned long x = 0;
    int64_t b = a;
    for (unsigned long i = 0; b == a && i < 1000000000UL; i++) { /* bounded: spin until it moves */
        x += i;
        if ((i & 0xffff) == 0)
            b = loadgauge_thread_cpu_ns();
    }
    ck_assert_int_gt(a, 0);
    ck_assert_int_gt(b, a);
    (void)x; /* the spin's only purpose is to burn CPU (clang: set but not used) */
}
END_TEST

static Suite *loadgauge_suite(void)
{
    Suite *s = suite_create("loadgauge");
    TCase *tc = tcase_create("loadgauge");
    tcase_add_test(tc, test_spacing_rule);
    tcase_add_test(tc, test_sampling);
    tcase_add_test(tc, test_thread_cpu_advances);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(loadgauge_suite)
