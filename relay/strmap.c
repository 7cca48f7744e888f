/* strmap.c — string-keyed hash map (seeded FNV-1a: the keys are the clients' ids; chained
 * buckets, doubling). */
#include "relay/strmap.h"

#include "common/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct strmap_entry {
    struct strmap_entry *next;
    uint64_t hash;
    void *value;
    char key[];
};

void strmap_init(struct strmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void strmap_clear(struct strmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    strmap_init(m);
}

static struct strmap_entry **find_slot(const struct strmap *m, const char *key, uint64_t h)
{
    if (m->nbuckets == 0)
        return NULL;
    struct strmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry **pp = find_slot(m, key, hash_seeded_str(key));
    return pp && *pp ? (*pp)->value : NULL;
}

static int grow(struct strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct strmap_entry **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
    uint64_t h = hash_seeded_str(key);
    struct strmap_entry **pp = find_slot(m, key, h);
    if (pp && *pp) {
        (*pp)->value = value;
        return 0;
    }
    if (m->count + 1 > m->nbuckets * 3 / 4) {
        if (grow(m) != 0)
            return -1;
    }
    size_t klen = strlen(key);
    struct strmap_entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return -1;
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    size_t i = h & (m->nbuckets - 1);
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_entry **pp = find_slot(m, key, hash_seeded_str(key));
    if (!pp || !*pp)
        return NULL;
    struct strmap_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}
