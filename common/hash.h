/* hash.h — FNV-1a (64-bit), the one string hash of the tree's hash tables.  The tables key
 * strings a client chooses (object, manifest and room ids, bearer tokens), so they use the
 * seeded form: the FNV basis mixed with a per-process random seed (getrandom(2)), which makes
 * the slots a set of keys falls into differ from one process to the next.  The hashing is
 * inline (it runs once per object id of a save). */
#ifndef ROOMSTATE_HASH_H
#define ROOMSTATE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET 14695981039346656037ULL /* the FNV-1a 64-bit offset basis */
#define HASH_FNV_PRIME 1099511628211ULL

/* The process's seed: random (getrandom), the same for the life of the process; read once,
 * thread-safe.  If the kernel gives no random bytes, a mix of the time, the pid and an
 * address (still different per process, not secret). */
uint64_t hash_seed(void);

/* FNV-1a of p[n] from the given basis (HASH_FNV_OFFSET: the plain, published FNV-1a). */
static inline uint64_t hash_fnv1a_from(uint64_t basis, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = basis;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * HASH_FNV_PRIME;
    return h;
}

/* FNV-1a of p[n] (of the NUL-terminated s) from HASH_FNV_OFFSET ^ hash_seed(). */
static inline uint64_t hash_seeded(const void *p, size_t n)
{
    return hash_fnv1a_from(HASH_FNV_OFFSET ^ hash_seed(), p, n);
}

static inline uint64_t hash_seeded_str(const char *s)
{
    uint64_t h = HASH_FNV_OFFSET ^ hash_seed();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * HASH_FNV_PRIME;
    return h;
}

#endif
