/* authcache.h — a small per-thread cache of verified bearer tokens, so that a client
 * sending the same token on every request pays for one HMAC + JSON decode, not one per
 * request.  Only successes are cached; a hit is the full token compared byte for byte
 * (constant time) and is re-checked against the clock: an expired token is never
 * accepted (it is dropped and verified again, which then gives AUTH_EXPIRED).  Every
 * other check of auth_verify_token depends only on the token bytes and the keys, except
 * the service-token lifetime cap (exp <= now + max TTL), which only loosens as time
 * passes, so a success stays a success until exp.  Entries are bound to the keys struct
 * they were verified with. */
#ifndef ROOMSTATE_AUTHCACHE_H
#define ROOMSTATE_AUTHCACHE_H

#include "common/auth.h"

#include <stdint.h>

#define AUTHCACHE_SLOTS 64             /* per thread, direct-mapped */
#define AUTHCACHE_MAX_TOKEN_BYTES 1024 /* longer tokens are verified every time */

/* auth_verify_bearer with the calling thread's cache in front: same results, same *out. */
enum auth_result authcache_verify_bearer(const struct auth_keys *keys, const char *header,
                                         int64_t now_s, struct auth_identity *out)
    __attribute__((warn_unused_result));

/* Hits and misses of all threads so far (for tests and metrics). */
void authcache_stats(uint64_t *hits, uint64_t *misses);

#endif
