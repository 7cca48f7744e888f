/* test_clock.c — clock_grid_next (common/clock.c), the fixed-rate schedule of the relay's
 * tick (issue 12): runs that start late or take long keep the rate on average, one run
 * behind is caught up at once, and a schedule more than a period behind starts again
 * without a burst of runs. */
#include <check.h>
#include <stdint.h>

#include "common/clock.h"
#include "tests/unit/unit.h"

#define PERIOD 50000 /* us: a 20 Hz tick */

/* Each run starts `late` after its deadline and takes `work`: after n runs the schedule
 * is still on the grid (a delay of one period after each run would be n * (late + work)
 * behind: 20 Hz would become 19.6 Hz with 1 ms of both). */
START_TEST(test_grid_keeps_the_rate)
{
    const int64_t late = 700, work = 300;
    int64_t due = 1000000, now = due + late;
    for (int i = 1; i <= 1000; i++) {
        now += work;
        int64_t wait = clock_grid_next(&due, PERIOD, now);
        ck_assert_int_eq(due, 1000000 + (int64_t)i * PERIOD);
        ck_assert_int_eq(wait, PERIOD - late - work);
        now += wait + late;
    }
    ck_assert_int_eq(now, 1000000 + 1000LL * PERIOD + late);
}
END_TEST

START_TEST(test_grid_catches_up_one_run)
{
    int64_t due = 0;
    /* the run due at 0 ended at 70 ms: the one due at 50 ms runs at once */
    ck_assert_int_eq(clock_grid_next(&due, PERIOD, 70000), 0);
    ck_assert_int_eq(due, PERIOD);
    /* and the next one is back on the grid, at 100 ms */
    ck_assert_int_eq(clock_grid_next(&due, PERIOD, 71000), 29000);
    ck_assert_int_eq(due, 2 * PERIOD);
}
END_TEST

START_TEST(test_grid_restarts_when_far_behind)
{
    int64_t due = 0;
    /* stalled for 5 periods: one run now, not 5 in a row; the grid starts again at now */
    ck_assert_int_eq(clock_grid_next(&due, PERIOD, 250000), 0);
    ck_assert_int_eq(due, 250000);
    ck_assert_int_eq(clock_grid_next(&due, PERIOD, 251000), 49000);
    ck_assert_int_eq(due, 300000);
}
END_TEST

START_TEST(test_grid_early_and_exact)
{
    int64_t due = 100;
    ck_assert_int_eq(clock_grid_next(&due, 10, 100), 10); /* right on time */
    ck_assert_int_eq(clock_grid_next(&due, 10, 105), 15); /* an early wake-up waits longer */
    ck_assert_int_eq(due, 120);
    ck_assert_int_eq(clock_grid_next(&due, 10, 130), 0); /* exactly at the deadline */
    ck_assert_int_eq(due, 130);
}
END_TEST

static Suite *clock_suite(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("grid");
    tcase_add_test(tc, test_grid_keeps_the_rate);
    tcase_add_test(tc, test_grid_catches_up_one_run);
    tcase_add_test(tc, test_grid_restarts_when_far_behind);
    tcase_add_test(tc, test_grid_early_and_exact);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(clock_suite)
