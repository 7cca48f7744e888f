/* loadgauge.h — how busy the relay's event-loop thread is, and the leading-edge flush
 * spacing that follows from it.
 *
 * A player transform within its rate cap goes out in the next flush.  On an idle relay the
 * flush runs right after the event-loop pass in which it arrived (sub-millisecond latency,
 * about one message per frame).  Each frame costs a send system call and the kernel's TCP
 * work (most of a busy relay's CPU, BENCHMARKS.md), so as the thread gets busy the flushes
 * are spaced out, up to cap_ms apart, and each frame carries more messages: latency rises
 * by at most cap_ms, and only when the relay would otherwise run out of CPU. */
#ifndef ROOMSTATE_RELAY_LOADGAUGE_H
#define ROOMSTATE_RELAY_LOADGAUGE_H

#include <stdbool.h>
#include <stdint.h>

/* Below this busy share flushes are not spaced; at or above the high one, by the cap. */
#define LOADGAUGE_LOW 0.25
#define LOADGAUGE_HIGH 0.75

struct loadgauge {
    bool started;
    int64_t wall_ns, cpu_ns; /* at the last sample */
    double busy;             /* smoothed share of wall time the thread was on a CPU, 0..1 */
};

/* One sample: wall_ns (CLOCK_MONOTONIC) and cpu_ns (the thread's CPU time, user + system)
 * now.  busy moves halfway to the share measured since the previous sample (~100 ms to
 * follow a change when sampled at the 20 Hz tick).  Samples less than 1 ms apart or going
 * backwards are ignored. */
void loadgauge_sample(struct loadgauge *g, int64_t wall_ns, int64_t cpu_ns);

/* The least time between two leading-edge flushes, in microseconds, for a busy share: 0 up
 * to LOADGAUGE_LOW, rising linearly to cap_ms × 1000 at LOADGAUGE_HIGH and above. */
int64_t loadgauge_spacing_us(double busy, unsigned cap_ms);

/* This thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID); 0 if unavailable. */
int64_t loadgauge_thread_cpu_ns(void);

#endif
