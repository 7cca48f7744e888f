/* cachesize.h — the default size of the GET /state body cache (--cache-mb auto).
 *
 * A 500-object room's state body is ~100 KB, so the cache holds every room of a deployment
 * only when it is sized from the machine, not from a constant: auto is 1/16 of the memory
 * this process may still use (MemAvailable, lowered by a cgroup v2 memory.max when that
 * leaves less), at least CACHE_AUTO_MIN_MIB and at most CACHE_AUTO_MAX_MIB.  The cache
 * fills only with bodies that are read: an idle server does not use it. */
#ifndef ROOMSTATE_SERVER_CACHESIZE_H
#define ROOMSTATE_SERVER_CACHESIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_AUTO_MIN_MIB 4
#define CACHE_AUTO_MAX_MIB 256
#define CACHE_AUTO_DIVISOR 16

/* The auto size in MiB for avail bytes of available memory and a cgroup that may use at most
 * limit bytes of which it uses usage (limit UINT64_MAX: no cgroup limit). */
long long cachesize_auto_mib(uint64_t avail, uint64_t limit, uint64_t usage);

/* MemAvailable of a /proc/meminfo text, in bytes; false when absent or malformed. */
bool cachesize_parse_meminfo(const char *text, uint64_t *bytes);

/* A cgroup v2 memory.max text: "max\n" sets UINT64_MAX, a number its value; false otherwise. */
bool cachesize_parse_limit(const char *text, uint64_t *bytes);

/* The auto size read from this machine (/proc/meminfo, /proc/self/cgroup and the cgroup's
 * memory.max and memory.current under /sys/fs/cgroup); CACHE_AUTO_MIN_MIB when nothing can
 * be read.  why (optional) gets a short account for the start-up log. */
long long cachesize_auto_here(char *why, size_t whysize);

/* Parses --cache-mb: "auto" (*auto_size true) or a whole number of MiB in [0, 65536]. */
bool cachesize_parse_option(const char *text, long long *mib, bool *auto_size);

#endif
