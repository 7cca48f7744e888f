/* clock.h — wall and monotonic time, and RFC 3339 time stamps. */
#ifndef ROOMSTATE_CLOCK_H
#define ROOMSTATE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_RFC3339_LEN 25 /* "2026-11-25T11:30:00.123Z" + NUL */

int64_t clock_wall_ms(void); /* milliseconds since the Unix epoch */
int64_t clock_mono_ns(void); /* monotonic nanoseconds, for durations */
/* Fixed-rate periodic timers: advances the deadline *due (any monotonic unit) by period and
 * returns the wait from now until it (0: run now), so that runs keep the rate however late
 * each one starts or long it takes.  More than one period behind, a new grid starts at now
 * (no burst of catch-up runs).  Start with *due = the first run's time. */
int64_t clock_grid_next(int64_t *due, int64_t period, int64_t now);
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void clock_rfc3339(int64_t wall_ms, char out[CLOCK_RFC3339_LEN]);

#endif
