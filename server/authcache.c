/* authcache.c — per-thread cache of verified bearer tokens (see authcache.h). */
#include "server/authcache.h"

#include "common/hash.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct entry {
    const struct auth_keys *keys; /* NULL: empty slot */
    size_t len;
    struct auth_identity id;
    char token[AUTHCACHE_MAX_TOKEN_BYTES];
};

static _Thread_local struct entry slots[AUTHCACHE_SLOTS];
static atomic_ulong n_hits, n_misses;

static size_t slot_of(const char *t, size_t len)
{
    uint64_t h = hash_seeded(t, len); /* slot choice only: the compare is on the whole token */
    return (size_t)((h ^ (h >> 29)) % AUTHCACHE_SLOTS);
}

/* The token of a "Bearer <token>" header as auth_verify_bearer takes it, or false when
 * the header is not in the one simple shape the cache handles (then: no caching). */
static bool token_of(const char *header, const char **t, size_t *len)
{
    /* the whole header is short: auth_verify_bearer's size check cannot fire */
    if (!header ||
        strnlen(header, AUTHCACHE_MAX_TOKEN_BYTES + 65) > AUTHCACHE_MAX_TOKEN_BYTES + 64 ||
        strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    const char *p = header + 7;
    while (*p == ' ')
        p++;
    size_t n = strnlen(p, AUTHCACHE_MAX_TOKEN_BYTES + 1);
    if (n == 0 || n > AUTHCACHE_MAX_TOKEN_BYTES)
        return false;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *t = p;
    *len = n;
    return n > 0;
}

enum auth_result authcache_verify_bearer(const struct auth_keys *keys, const char *header,
                                         int64_t now_s, struct auth_identity *out)
{
    const char *t = NULL;
    size_t len = 0;
    if (!token_of(header, &t, &len))
        return auth_verify_bearer(keys, header, now_s, out);
    struct entry *e = &slots[slot_of(t, len)];
    if (e->keys == keys && e->len == len && CRYPTO_memcmp(e->token, t, len) == 0) {
        if (e->id.exp > now_s - keys->leeway_s) {
            *out = e->id;
            atomic_fetch_add_explicit(&n_hits, 1, memory_order_relaxed);
            return AUTH_OK;
        }
        e->keys = NULL; /* expired: verify again (AUTH_EXPIRED, with exp) */
    }
    atomic_fetch_add_explicit(&n_misses, 1, memory_order_relaxed);
    enum auth_result rc = auth_verify_bearer(keys, header, now_s, out);
    if (rc == AUTH_OK) {
        memcpy(e->token, t, len);
        e->len = len;
        e->id = *out;
        e->keys = keys;
    }
    return rc;
}

void authcache_stats(uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load(&n_hits);
    *misses = atomic_load(&n_misses);
}
