/* prom.h — Prometheus text exposition helpers shared by the server and the relay. */
#ifndef ROOMSTATE_PROM_H
#define ROOMSTATE_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes the samples of one histogram series: name_bucket{label,le="b"} with cumulative
 * counts for each of the n bounds, le="+Inf" = total, name_sum, name_count.
 * counts[i]: observations in (bounds[i-1], bounds[i]] (not cumulative); observations above
 * the last bound are total minus their sum.  label: e.g. route="/healthz" (already
 * escaped), or NULL for none.  The # HELP / # TYPE lines are the caller's. */
void prom_histogram(FILE *f, const char *name, const char *label, const double *bounds,
                    const uint64_t *counts, size_t n, uint64_t total, double sum);

#endif
