/* strmap.h — a small string-keyed hash map (chained, grows by doubling) for the relay's
 * rooms, objects and manifests.  Keys are copied; values are the caller's pointers. */
#ifndef ROOMSTATE_RELAY_STRMAP_H
#define ROOMSTATE_RELAY_STRMAP_H

#include <stddef.h>

struct strmap_entry;

struct strmap {
    struct strmap_entry **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
};

void strmap_init(struct strmap *m);
/* Frees the map's own memory (not the values). */
void strmap_clear(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Sets key -> value (replacing).  0, or -1 when out of memory (nothing changed). */
int strmap_put(struct strmap *m, const char *key, void *value) __attribute__((warn_unused_result));
/* Removes key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);

#endif
