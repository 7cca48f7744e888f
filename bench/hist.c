/* hist.c — fixed-bucket latency histogram (see hist.h). */
#include "bench/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int hist_init(struct hist *h, double bucket_ms, double max_ms)
{
    memset(h, 0, sizeof *h);
    if (!(bucket_ms > 0) || !(max_ms > bucket_ms))
        return -1;
    h->n = (size_t)(max_ms / bucket_ms);
    h->bucket_ms = bucket_ms;
    h->b = calloc(h->n + 1, sizeof *h->b);
    return h->b ? 0 : -1;
}

void hist_clear(struct hist *h)
{
    free(h->b);
    memset(h, 0, sizeof *h);
}

void hist_add(struct hist *h, double ms)
{
    if (!(ms > 0))
        ms = 0;
    double i = ms / h->bucket_ms;
    h->b[i >= (double)h->n ? h->n : (size_t)i]++;
    h->count++;
    h->sum_ms += ms;
    if (ms > h->max_ms)
        h->max_ms = ms;
}

double hist_pct(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil((double)h->count * p / 100.0), acc = 0;
    if (want == 0)
        want = 1;
    for (size_t i = 0; i <= h->n; i++) {
        acc += h->b[i];
        if (acc >= want)
            return i == h->n ? h->max_ms : fmin((double)(i + 1) * h->bucket_ms, h->max_ms);
    }
    return h->max_ms;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum_ms / (double)h->count : 0;
}
