/* procstat.h — CPU and memory figures from /proc, for the load generators (bench/ only).
 * Linux only.  Every reader returns false / -1 when the figure cannot be read (process
 * gone, no /proc), never a made-up value. */
#ifndef ROOMSTATE_BENCH_PROCSTAT_H
#define ROOMSTATE_BENCH_PROCSTAT_H

#include <stdbool.h>

#define PROCSTAT_MAX_CPUS 64

/* CPU seconds (user + system) used so far by process pid, from /proc/PID/stat. */
bool procstat_cpu_s(long long pid, double *cpu_s);
/* CPU seconds (user + system) used so far by this process (getrusage). */
double procstat_self_cpu_s(void);
/* A "Vm...:" field of /proc/PID/status in MiB (e.g. "VmHWM:" = peak RSS), or -1. */
double procstat_status_mib(long long pid, const char *field);

/* Per-core jiffies from /proc/stat (busy = total - idle - iowait). */
struct procstat_cores {
    int n;
    unsigned long long total[PROCSTAT_MAX_CPUS], idle[PROCSTAT_MAX_CPUS];
};
bool procstat_cores_read(struct procstat_cores *out);
/* Busy percentage of core i between two readings; -1 when unknown. */
double procstat_core_busy_pct(const struct procstat_cores *a, const struct procstat_cores *b,
                              int i);

#endif
