/* hash.c — seeded FNV-1a (see hash.h). */
#include "common/hash.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    ssize_t n;
    do
        n = getrandom(&seed, sizeof seed, 0);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof seed)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
}

uint64_t hash_seed(void)
{
    pthread_once(&seed_once, seed_init);
    return seed;
}

uint64_t hash_fnv1a_from(uint64_t basis, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = basis;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * HASH_FNV_PRIME;
    return h;
}

uint64_t hash_seeded(const void *p, size_t n)
{
    return hash_fnv1a_from(HASH_FNV_OFFSET ^ hash_seed(), p, n);
}

uint64_t hash_seeded_str(const char *s)
{
    uint64_t h = HASH_FNV_OFFSET ^ hash_seed();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * HASH_FNV_PRIME;
    return h;
}
