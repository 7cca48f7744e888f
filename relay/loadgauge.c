/* loadgauge.c — see loadgauge.h. */
#include "relay/loadgauge.h"

#include <time.h>

void loadgauge_sample(struct loadgauge *g, int64_t wall_ns, int64_t cpu_ns)
{
    if (!g->started) {
        g->started = true;
        g->wall_ns = wall_ns;
        g->cpu_ns = cpu_ns;
        g->busy = 0;
        return;
    }
    int64_t dw = wall_ns - g->wall_ns, dc = cpu_ns - g->cpu_ns;
    if (dw < 1000000 || dc < 0)
        return;
    double share = (double)dc / (double)dw;
    if (share > 1)
        share = 1;
    g->busy = (g->busy + share) / 2;
    g->wall_ns = wall_ns;
    g->cpu_ns = cpu_ns;
}

int64_t loadgauge_spacing_us(double busy, unsigned cap_ms)
{
    if (busy <= LOADGAUGE_LOW || cap_ms == 0)
        return 0;
    if (busy >= LOADGAUGE_HIGH)
        return (int64_t)cap_ms * 1000;
    return (int64_t)((busy - LOADGAUGE_LOW) / (LOADGAUGE_HIGH - LOADGAUGE_LOW) * cap_ms * 1000);
}

int64_t loadgauge_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
