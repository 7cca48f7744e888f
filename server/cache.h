/* cache.h — GET /rooms/{id}/state response bodies keyed by (room id, version).  A version
 * names one document for ever (versions are never reused), so an entry is never stale;
 * callers look it up only after reading the room's current version from the store.
 * Bounded by entries and bytes; thread-safe; bodies are reference-counted so a response
 * being sent keeps its body alive after eviction. */
#ifndef ROOMSTATE_CACHE_H
#define ROOMSTATE_CACHE_H

#include <stddef.h>
#include <stdint.h>

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

/* Makes a reference-counted body from bytes (copied) and, when it fits, stores it under
 * (room, version).  Returns a reference for the caller, or NULL when out of memory. */
const struct cache_body *cache_put(struct cache *c, const char *room_id, int64_t version,
                                   const char *bytes, size_t len);

/* Drops a reference (the signature fits reply_shared's release). */
void cache_body_release(void *body);

#endif
