/* cachesize.c — see cachesize.h. */
#include "server/cachesize.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((uint64_t)1024 * 1024)

long long cachesize_auto_mib(uint64_t avail, uint64_t limit, uint64_t usage)
{
    uint64_t budget = avail;
    if (limit != UINT64_MAX) {
        uint64_t left = limit > usage ? limit - usage : 0;
        if (left < budget)
            budget = left;
    }
    uint64_t mib = budget / CACHE_AUTO_DIVISOR / MIB;
    if (mib < CACHE_AUTO_MIN_MIB)
        mib = CACHE_AUTO_MIN_MIB;
    if (mib > CACHE_AUTO_MAX_MIB)
        mib = CACHE_AUTO_MAX_MIB;
    return (long long)mib;
}

/* A decimal number at p (leading blanks skipped), its end in *end; false if none or too big. */
static bool parse_u64(const char *p, uint64_t *v, const char **end)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    uint64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *v = n;
    *end = p;
    return true;
}

/* What follows prefix on the first line of text that starts with it, or NULL. */
static const char *line_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, n) == 0)
            return line + n;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return NULL;
}

bool cachesize_parse_meminfo(const char *text, uint64_t *bytes)
{
    const char *v = line_starting(text, "MemAvailable:"), *end;
    uint64_t kib;
    if (!v || !parse_u64(v, &kib, &end) || strncmp(end, " kB", 3) != 0 || kib > UINT64_MAX / 1024)
        return false;
    *bytes = kib * 1024;
    return true;
}

bool cachesize_parse_limit(const char *text, uint64_t *bytes)
{
    const char *end;
    if (strcmp(text, "max\n") == 0 || strcmp(text, "max") == 0) {
        *bytes = UINT64_MAX;
        return true;
    }
    if (!parse_u64(text, bytes, &end))
        return false;
    return *end == '\0' || (end[0] == '\n' && end[1] == '\0');
}

/* Up to size - 1 bytes of path, NUL-terminated; false when it cannot be read. */
static bool read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    bool ok = !ferror(f);
    fclose(f);
    buf[n] = '\0';
    return ok && n > 0;
}

/* The cgroup v2 directory of this process ("0::/path" in /proc/self/cgroup). */
static bool own_cgroup(char *dir, size_t size)
{
    char text[4096];
    if (!read_text("/proc/self/cgroup", text, sizeof text))
        return false;
    const char *path = line_starting(text, "0::");
    if (!path)
        return false;
    size_t len = strcspn(path, "\n");
    int n = snprintf(dir, size, "/sys/fs/cgroup%.*s", (int)len, path);
    return n > 0 && (size_t)n < size;
}

long long cachesize_auto_here(char *why, size_t whysize)
{
    char text[8192], dir[1024], path[1100];
    uint64_t avail = 0, limit = UINT64_MAX, usage = 0;
    if (!read_text("/proc/meminfo", text, sizeof text) || !cachesize_parse_meminfo(text, &avail)) {
        if (why)
            snprintf(why, whysize, "MemAvailable unreadable");
        return CACHE_AUTO_MIN_MIB;
    }
    if (own_cgroup(dir, sizeof dir)) {
        uint64_t l, u;
        snprintf(path, sizeof path, "%s/memory.max", dir);
        if (read_text(path, text, sizeof text) && cachesize_parse_limit(text, &l))
            limit = l;
        snprintf(path, sizeof path, "%s/memory.current", dir);
        if (limit != UINT64_MAX && read_text(path, text, sizeof text) &&
            cachesize_parse_limit(text, &u) && u != UINT64_MAX)
            usage = u;
    }
    long long mib = cachesize_auto_mib(avail, limit, usage);
    if (why) {
        if (limit == UINT64_MAX)
            snprintf(why, whysize, "1/%d of MemAvailable %" PRIu64 " MiB", CACHE_AUTO_DIVISOR,
                     avail / MIB);
        else
            snprintf(why, whysize,
                     "1/%d of MemAvailable %" PRIu64 " MiB or of the cgroup's %" PRIu64
                     " MiB left of memory.max",
                     CACHE_AUTO_DIVISOR, avail / MIB, (limit > usage ? limit - usage : 0) / MIB);
    }
    return mib;
}

bool cachesize_parse_option(const char *text, long long *mib, bool *auto_size)
{
    if (strcmp(text, "auto") == 0) {
        *auto_size = true;
        *mib = 0;
        return true;
    }
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < 0 || v > 65536)
        return false;
    *auto_size = false;
    *mib = v;
    return true;
}
