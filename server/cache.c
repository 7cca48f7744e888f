/* cache.c — a direct-mapped, byte-bounded cache of GET /state bodies (see cache.h). */
#include "server/cache.h"

#include "server/http.h"

#include "common/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Slots: one per CACHE_SLOT_BYTES of the budget (a 98 KB body per ~24 KB: few rooms share a
 * slot while the bytes last), a power of two, at least CACHE_SLOTS_MIN. */
#define CACHE_SLOTS_MIN 1024
#define CACHE_SLOT_BYTES (24 * 1024)

struct body {
    struct cache_body pub; /* first: a cache_body * is a struct body * */
    atomic_int refs;
    char room_id[HTTP_ROOM_ID_MAX + 1];
    int64_t version;
    bool confirmed; /* version was current at mark (under cache->lock) */
    struct store_watch_mark mark;
    void *owned; /* cache_body_adopt's allocation, freed with the body */
    char data[];
};

struct cache {
    pthread_mutex_t lock;
    size_t max_bytes, bytes;
    size_t nslots; /* a power of two */
    struct body *slots[];
};

static size_t slot_of(const struct cache *c, const char *room_id)
{
    return (size_t)(hash_seeded_str(room_id) & (c->nslots - 1)); /* room ids are the client's */
}

struct cache *cache_new(size_t max_bytes)
{
    if (!max_bytes)
        return NULL;
    size_t n = CACHE_SLOTS_MIN;
    while (n < max_bytes / CACHE_SLOT_BYTES && n < SIZE_MAX / 2 / sizeof(struct body *))
        n *= 2;
    struct cache *c = calloc(1, sizeof *c + n * sizeof(struct body *));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    c->nslots = n;
    return c;
}

void cache_body_release(void *p)
{
    struct body *b = p;
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->owned);
        free(b);
    }
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        cache_body_release(c->slots[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* A new reference to the room's body when it also is of version (0: any) and, with mark,
 * was confirmed current at an equal mark; its version in *got.  NULL when there is none. */
static const struct cache_body *take(struct cache *c, const char *room_id, int64_t version,
                                     const struct store_watch_mark *mark, int64_t *got)
{
    struct body *found = NULL;
    *got = 0;
    if (!c)
        return NULL;
    size_t i = slot_of(c, room_id);
    pthread_mutex_lock(&c->lock);
    struct body *b = c->slots[i];
    if (b && (!version || b->version == version) &&
        (!mark || (b->confirmed && !memcmp(&b->mark, mark, sizeof *mark))) &&
        !strcmp(b->room_id, room_id)) {
        atomic_fetch_add(&b->refs, 1);
        found = b;
        *got = b->version;
    }
    pthread_mutex_unlock(&c->lock);
    return found ? &found->pub : NULL;
}

const struct cache_body *cache_get(struct cache *c, const char *room_id, int64_t version)
{
    int64_t got;
    return version > 0 ? take(c, room_id, version, NULL, &got) : NULL;
}

const struct cache_body *cache_get_any(struct cache *c, const char *room_id, int64_t *version)
{
    return take(c, room_id, 0, NULL, version);
}

const struct cache_body *cache_get_fresh(struct cache *c, const char *room_id,
                                         const struct store_watch_mark *mark, int64_t *version)
{
    return take(c, room_id, 0, mark, version);
}

void cache_confirm(struct cache *c, const char *room_id, int64_t version,
                   const struct store_watch_mark *mark)
{
    if (!c)
        return;
    size_t i = slot_of(c, room_id);
    pthread_mutex_lock(&c->lock);
    struct body *b = c->slots[i];
    if (b && b->version == version && !strcmp(b->room_id, room_id)) {
        b->mark = *mark;
        b->confirmed = true;
    }
    pthread_mutex_unlock(&c->lock);
}

struct cache_body *cache_body_new(size_t len, char **data)
{
    struct body *b = len < SIZE_MAX - sizeof *b ? malloc(sizeof *b + len + 1) : NULL;
    *data = NULL;
    if (!b)
        return NULL;
    b->data[len] = '\0';
    b->pub.bytes = b->data;
    b->pub.len = len;
    b->room_id[0] = '\0';
    b->version = 0;
    b->confirmed = false;
    b->owned = NULL;
    atomic_init(&b->refs, 1);
    *data = b->data;
    return &b->pub;
}

struct cache_body *cache_body_adopt(void *alloc, const char *bytes, size_t len)
{
    char *unused;
    struct cache_body *pub = cache_body_new(0, &unused);
    if (!pub) {
        free(alloc);
        return NULL;
    }
    struct body *b = (struct body *)pub;
    b->owned = alloc;
    pub->bytes = bytes;
    pub->len = len;
    return pub;
}

const struct cache_body *cache_insert(struct cache *c, const char *room_id, int64_t version,
                                      struct cache_body *body, const struct store_watch_mark *mark)
{
    struct body *b = (struct body *)body; /* pub is its first member */
    size_t rl = strlen(room_id), len = b->pub.len;
    if (rl > HTTP_ROOM_ID_MAX || !c)
        return &b->pub; /* served, not kept */
    memcpy(b->room_id, room_id, rl + 1);
    b->version = version;
    if (mark) { /* still the caller's own body: set before the slot publishes it */
        b->mark = *mark;
        b->confirmed = true;
    }
    size_t i = slot_of(c, room_id);
    pthread_mutex_lock(&c->lock);
    struct body *old = c->slots[i];
    size_t after = c->bytes - (old ? old->pub.len : 0) + len;
    if (after <= c->max_bytes &&
        (!old || old->version <= version || strcmp(old->room_id, room_id))) {
        atomic_fetch_add(&b->refs, 1); /* the slot's reference */
        c->slots[i] = b;
        c->bytes = after;
    } else {
        old = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    cache_body_release(old);
    return &b->pub;
}
