/* procstat.c — CPU and memory figures from /proc (see procstat.h). */
#include "bench/procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

bool procstat_cpu_s(long long pid, double *cpu_s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return false;
    /* after ") ": state is field 0, utime field 11, stime field 12 */
    unsigned long long utime = 0, stime = 0;
    p++;
    for (int i = 0; i <= 12; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        char *end = p;
        unsigned long long v = strtoull(p, &end, 10);
        if (i == 11)
            utime = v;
        if (i == 12)
            stime = v;
        while (*end && *end != ' ')
            end++;
        p = end;
    }
    long tck = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / (double)(tck > 0 ? tck : 100);
    return true;
}

double procstat_self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double procstat_status_mib(long long pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%lld/status", pid);
    FILE *f = fopen(path, "r");
    double mib = -1;
    if (!f)
        return -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl)) {
            mib = strtod(line + fl, NULL) / 1024.0; /* the kernel reports kB */
            break;
        }
    fclose(f);
    return mib;
}

bool procstat_cores_read(struct procstat_cores *out)
{
    char line[512];
    FILE *f = fopen("/proc/stat", "r");
    out->n = 0;
    if (!f)
        return false;
    while (fgets(line, sizeof line, f) && out->n < PROCSTAT_MAX_CPUS) {
        if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
            continue;
        char *p = line + 3;
        while (*p && *p != ' ')
            p++;
        unsigned long long tot = 0, idle = 0;
        for (int i = 0; i < 10; i++) { /* user nice system idle iowait irq softirq steal ... */
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (end == p)
                break;
            tot += v;
            if (i == 3 || i == 4)
                idle += v;
            p = end;
        }
        out->total[out->n] = tot;
        out->idle[out->n++] = idle;
    }
    fclose(f);
    return out->n > 0;
}

double procstat_core_busy_pct(const struct procstat_cores *a, const struct procstat_cores *b, int i)
{
    if (i < 0 || i >= a->n || i >= b->n || b->total[i] <= a->total[i])
        return -1;
    double dt = (double)(b->total[i] - a->total[i]), di = (double)(b->idle[i] - a->idle[i]);
    return 100.0 * (1.0 - di / dt);
}
