/* hash.h — FNV-1a (64-bit), the one string hash of the tree's hash tables.  The tables key
 * strings a client chooses (object, manifest and room ids, bearer tokens), so they use the
 * seeded form: the FNV basis mixed with a per-process random seed (getrandom(2)), which makes
 * the slots a set of keys falls into differ from one process to the next. */
#ifndef ROOMSTATE_HASH_H
#define ROOMSTATE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET 14695981039346656037ULL /* the FNV-1a 64-bit offset basis */
#define HASH_FNV_PRIME 1099511628211ULL

/* FNV-1a of p[n] from the given basis (HASH_FNV_OFFSET: the plain, published FNV-1a). */
uint64_t hash_fnv1a_from(uint64_t basis, const void *p, size_t n);

/* The process's seed: random (getrandom), the same for the life of the process; read once,
 * thread-safe.  If the kernel gives no random bytes, a mix of the time, the pid and an
 * address (still different per process, not secret). */
uint64_t hash_seed(void);

/* FNV-1a of p[n] (of the NUL-terminated s) from HASH_FNV_OFFSET ^ hash_seed(). */
uint64_t hash_seeded(const void *p, size_t n);
uint64_t hash_seeded_str(const char *s);

#endif
