/* prom.c — Prometheus text exposition helpers (see prom.h). */
#include "common/prom.h"

void prom_histogram(FILE *f, const char *name, const char *label, const double *bounds,
                    const uint64_t *counts, size_t n, uint64_t total, double sum)
{
    const char *sep = label ? "," : "";
    label = label ? label : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep, bounds[i],
                (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep, (unsigned long long)total);
    if (*label)
        fprintf(f, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, label, sum, name, label,
                (unsigned long long)total);
    else
        fprintf(f, "%s_sum %.9f\n%s_count %llu\n", name, sum, name, (unsigned long long)total);
}
