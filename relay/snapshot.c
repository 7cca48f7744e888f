/* snapshot.c — cutting the registry into bounded SNAPSHOT_CHUNK frames.  Every item
 * (manifest entry or object) is encoded once, then items are packed greedily into chunks
 * whose exact size is known before a byte is written. */
#include "relay/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "relay/jsonenc.h"
#include "relay/outbox.h"

struct item {
    char *text; /* object: {...}; manifest: "id":{...} */
    size_t len;
    bool manifest;
};

static char *dump(const json_t *v, size_t *len)
{
    size_t n = jsonenc_dump(v, NULL, 0);
    char *s = n ? malloc(n + 1) : NULL;
    if (!s)
        return NULL;
    jsonenc_dump(v, s, n);
    s[n] = '\0';
    *len = n;
    return s;
}

/* "id":{"properties":{...}} */
static char *manifest_text(const struct reg_manifest *m, size_t *len)
{
    json_t *k = json_string(m->id);
    json_t *v = json_pack("{sO}", "properties", m->properties);
    size_t kl = 0, vl = 0;
    char *ks = k ? dump(k, &kl) : NULL, *vs = v ? dump(v, &vl) : NULL, *out = NULL;
    if (ks && vs && (out = malloc(kl + 1 + vl + 1)) != NULL) {
        memcpy(out, ks, kl);
        out[kl] = ':';
        memcpy(out + kl + 1, vs, vl + 1);
        *len = kl + 1 + vl;
    }
    free(ks);
    free(vs);
    json_decref(k);
    json_decref(v);
    return out;
}

static void items_free(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].text);
    free(items);
}

static int head_len(char *buf, size_t size, uint64_t id, size_t index, size_t count)
{
    return snprintf(buf, size,
                    "{\"op\":%d,\"snapshot\":%llu,\"index\":%zu,\"count\":%zu,"
                    "\"manifests\":{",
                    OP_SNAPSHOT_CHUNK, (unsigned long long)id, index, count);
}

/* Writes chunk index of count from items[from, to). */
static struct relay_msg *chunk_msg(const struct item *items, size_t from, size_t to, uint64_t id,
                                   size_t index, size_t count, struct msg_pool *pool)
{
    char head[160];
    int hl = head_len(head, sizeof head, id, index, count);
    size_t len = (size_t)hl + 1 /* } */ + 12 /* ,"objects":[ */ + 2 /* ]} */;
    for (size_t i = from; i < to; i++)
        len += items[i].len + 1;
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    size_t p = 0;
    memcpy(buf, head, (size_t)hl);
    p += (size_t)hl;
    bool first = true, objects = false;
    for (size_t i = from; i <= to; i++) {
        if (!objects && (i == to || !items[i].manifest)) {
            memcpy(buf + p, "},\"objects\":[", 13);
            p += 13;
            objects = true;
            first = true;
        }
        if (i == to)
            break;
        if (!first)
            buf[p++] = ',';
        first = false;
        memcpy(buf + p, items[i].text, items[i].len);
        p += items[i].len;
    }
    buf[p++] = ']';
    buf[p++] = '}';
    struct relay_msg *m = relay_msg_new(pool, OP_SNAPSHOT_CHUNK, buf, p, 0);
    free(buf);
    return m;
}

struct relay_snapshot *snapshot_build(const struct registry *r, const char *host_id, uint64_t id,
                                      uint64_t watermark, size_t frame_bytes, struct msg_pool *pool)
{
    size_t n = r->nmanifests + r->nobjects, k = 0;
    struct item *items = calloc(n ? n : 1, sizeof *items);
    size_t *starts = calloc(n + 2, sizeof *starts);
    struct relay_snapshot *s = calloc(1, sizeof *s);
    if (!items || !starts || !s)
        goto fail;
    for (const struct reg_manifest *m = r->mhead; m; m = m->next, k++) {
        items[k].manifest = true;
        if (!(items[k].text = manifest_text(m, &items[k].len)))
            goto fail;
    }
    for (const struct reg_object *o = r->ohead; o; o = o->next, k++) {
        json_t *j = registry_object_json(o, host_id, true);
        items[k].text = j ? dump(j, &items[k].len) : NULL;
        json_decref(j);
        if (!items[k].text)
            goto fail;
    }
    /* pack: the envelope with the largest possible numbers, then items with separators */
    size_t budget =
        frame_bytes > SNAPSHOT_ENVELOPE_BYTES ? frame_bytes - SNAPSHOT_ENVELOPE_BYTES : 0;
    size_t nchunks = 0, used = 0;
    starts[nchunks++] = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].len + 1 > budget)
            goto fail; /* the registry keeps every item below the bound */
        if (used + items[i].len + 1 > budget) {
            starts[nchunks++] = i;
            used = 0;
        }
        used += items[i].len + 1;
    }
    starts[nchunks] = n;
    s->chunks = calloc(nchunks, sizeof *s->chunks);
    if (!s->chunks)
        goto fail;
    s->refs = 1;
    s->id = id;
    s->watermark = watermark;
    s->nobjects = r->nobjects;
    s->nmanifests = r->nmanifests;
    for (size_t c = 0; c < nchunks; c++) {
        s->chunks[c] = chunk_msg(items, starts[c], starts[c + 1], id, c, nchunks, pool);
        if (!s->chunks[c])
            goto fail;
        s->nchunks = c + 1;
    }
    json_t *done =
        json_pack("{sisIsIsIsIsI}", "op", OP_SNAPSHOT_DONE, "snapshot", (json_int_t)id, "chunks",
                  (json_int_t)nchunks, "objects", (json_int_t)r->nobjects, "manifests",
                  (json_int_t)r->nmanifests, "watermark", (json_int_t)watermark);
    s->done = done ? relay_msg_from_json(pool, OP_SNAPSHOT_DONE, done, 0) : NULL;
    json_decref(done);
    if (!s->done)
        goto fail;
    items_free(items, n);
    free(starts);
    return s;
fail:
    items_free(items, n);
    free(starts);
    if (s) {
        s->refs = 1;
        snapshot_unref(s);
    }
    return NULL;
}

struct relay_snapshot *snapshot_ref(struct relay_snapshot *s)
{
    s->refs++;
    return s;
}

void snapshot_unref(struct relay_snapshot *s)
{
    if (!s || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->nchunks; i++)
        relay_msg_unref(s->chunks[i]);
    free(s->chunks);
    relay_msg_unref(s->done);
    free(s);
}
