/* hist.h — fixed-bucket latency histogram for the load generators (bench/ only).
 * Values (milliseconds) above the last bucket are counted in an overflow bucket and in max. */
#ifndef ROOMSTATE_BENCH_HIST_H
#define ROOMSTATE_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

struct hist {
    uint32_t *b; /* n + 1 buckets; b[n] is the overflow */
    size_t n;
    double bucket_ms, max_ms, sum_ms;
    uint64_t count;
};

/* Buckets of bucket_ms up to max_ms.  Returns 0, or -1 when out of memory. */
int hist_init(struct hist *h, double bucket_ms, double max_ms) __attribute__((warn_unused_result));
void hist_clear(struct hist *h);
void hist_add(struct hist *h, double ms);
/* The p-th percentile (0 < p <= 100): upper edge of the bucket that holds it (max_ms for
 * the overflow bucket); 0 when empty. */
double hist_pct(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
