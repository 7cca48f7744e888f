/* clock.h — wall and monotonic time, and RFC 3339 time stamps. */
#ifndef ROOMSTATE_CLOCK_H
#define ROOMSTATE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_RFC3339_LEN 25 /* "2026-11-25T11:30:00.123Z" + NUL */

int64_t clock_wall_ms(void); /* milliseconds since the Unix epoch */
int64_t clock_mono_ns(void); /* monotonic nanoseconds, for durations */
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void clock_rfc3339(int64_t wall_ms, char out[CLOCK_RFC3339_LEN]);

#endif
