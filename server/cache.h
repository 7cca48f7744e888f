/* cache.h — GET /rooms/{id}/state response bodies keyed by (room id, version).  A version
 * names one document for ever (versions are never reused), so an entry is never stale;
 * what may be stale is whether it is the room's current version.  Callers learn that from
 * the store, or without asking it: an entry may carry the store_watch mark at which its
 * version was last confirmed current, and an equal mark now means nothing was committed
 * since.  Bounded by entries and bytes; thread-safe; bodies are reference-counted so a
 * response being sent keeps its body alive after eviction. */
#ifndef ROOMSTATE_CACHE_H
#define ROOMSTATE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_watch.h"

struct cache;
struct cache_body {
    const char *bytes;
    size_t len;
};

/* max_bytes 0: no cache (cache_new returns NULL and every call accepts NULL). */
struct cache *cache_new(size_t max_bytes);
void cache_free(struct cache *c);

/* A new reference to the body of (room, version), or NULL. */
const struct cache_body *cache_get(struct cache *c, const char *room_id, int64_t version);

/* A new reference to the room's body, with its version in *version, when the cache holds one
 * that cache_confirm last confirmed at a mark equal to *mark (nothing committed since: it is
 * still the current version); else NULL. */
const struct cache_body *cache_get_fresh(struct cache *c, const char *room_id,
                                         const struct store_watch_mark *mark, int64_t *version);

/* Records that the store said (room, version) was current after mark was read (when the
 * cache holds that entry; a later confirmation replaces an earlier one). */
void cache_confirm(struct cache *c, const char *room_id, int64_t version,
                   const struct store_watch_mark *mark);

/* A new reference to whatever body the cache holds for the room and its version (*version),
 * or NULL: for store_room_get_current(…, *version, …), which then says whether it is current. */
const struct cache_body *cache_get_any(struct cache *c, const char *room_id, int64_t *version);

/* A reference-counted body of len bytes (+ a NUL) for the caller to fill through *data;
 * NULL (and *data NULL) when out of memory. */
struct cache_body *cache_body_new(size_t len, char **data);

/* A body of the len bytes at bytes, inside alloc (malloc'd), which it takes over: freed with
 * the body, or at once when out of memory (then NULL). */
struct cache_body *cache_body_adopt(void *alloc, const char *bytes, size_t len);

/* Stores a body from cache_body_new or cache_body_adopt under (room, version) when it fits (it then
 * holds a reference of its own), confirmed current at *mark when mark is not NULL (as
 * cache_confirm).  Returns body: the caller's reference, for cache_body_release. */
const struct cache_body *cache_insert(struct cache *c, const char *room_id, int64_t version,
                                      struct cache_body *body, const struct store_watch_mark *mark);

/* Drops a reference (the signature fits reply_shared's release). */
void cache_body_release(void *body);

#endif
