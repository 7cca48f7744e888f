/* roomscan.c — the save fast path (see roomscan.h).  Pass 1 (jsyntax.c) checks the JSON
 * syntax the way jansson accepts it (strict grammar, UTF-8, escapes, duplicate keys,
 * number ranges) and gives up on anything unusual; pass 2 (here) walks the document, now known to
 * be valid JSON, applies the rules of roomdoc.c to the valid case and writes the stored document
 * from byte ranges of the body.  Any rule not met: ROOMSCAN_FALLBACK (the reference path
 * reports it). */
#include "common/roomscan.h"

#include "common/jsyntax.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char *cur;

#define OBJECT_ID_MAX_BYTES 128

struct prop {
    cur k;
    size_t kn;
    bool durable;
};

struct manifest {
    cur k, v, ve; /* id (without quotes), value range */
    size_t kn;
    size_t first, n; /* its declarations in ctx.props */
    bool used;
};

struct idslot {
    cur p; /* NULL: free */
    size_t n;
};

struct buf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
};

struct member {
    cur k, v, ve; /* key without quotes; value range */
    size_t kn, depth;
};

struct ctx {
    struct jsyntax syn; /* pass 1, with the body's own members */
    struct manifest man[ROOMSCAN_MAX_KEYS];
    size_t nman;
    struct prop *props;
    size_t nprops, props_cap;
    struct idslot *ids;
    size_t ids_cap, ids_n;
    size_t max_depth, max_objects;
    struct roomdoc_stats st;
    struct buf objs;
};

/* ---- pass 2: the document, known to be valid JSON ---- */

static cur ws2(cur p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static cur str_skip(cur p)
{
    for (p++;;) {
        while (jsyntax_plain[*p] || *p >= 0x80)
            p++;
        if (*p == '"')
            return p + 1;
        p += 2; /* an escape (valid JSON: nothing else stops the run) */
    }
}

/* Past the value at p; *depth: its nesting (0 for a scalar, 1 for [] or {}). */
static cur skip(cur p, size_t *depth)
{
    size_t d = 0, best = 0;
    *depth = 0;
    if (*p == '"')
        return str_skip(p);
    if (*p != '{' && *p != '[') {
        while (*p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
               *p != '\t')
            p++;
        return p;
    }
    do {
        while (jsyntax_skim[*p])
            p++;
        switch (*p) {
        case '"':
            p = str_skip(p);
            continue;
        case '{':
        case '[':
            if (++d > best)
                best = d;
            break;
        case '}':
        case ']':
            d--;
            break;
        default:
            break;
        }
        p++;
    } while (d > 0);
    *depth = best;
    return p;
}

/* The members of the object at p (pass 1 bounded their number); *end: past it. */
static size_t members(cur p, struct member *m, cur *end)
{
    size_t n = 0;
    p = ws2(p + 1);
    if (*p == '}') {
        *end = p + 1;
        return 0;
    }
    for (;;) {
        cur q = str_skip(p);
        m[n].k = p + 1;
        m[n].kn = (size_t)(q - 1 - m[n].k);
        p = ws2(ws2(q) + 1);
        m[n].v = p;
        p = skip(p, &m[n].depth);
        m[n].ve = p;
        n++;
        p = ws2(p);
        if (*p != ',') {
            *end = p + 1;
            return n;
        }
        p = ws2(p + 1);
    }
}

static bool keq(cur k, size_t kn, const char *s)
{
    size_t n = strlen(s);
    return kn == n && memcmp(k, s, n) == 0;
}

/* A string value without escapes: its bytes (between the quotes) in *s, *n. */
static bool plain_str(cur v, cur ve, cur *s, size_t *n)
{
    if (*v != '"' || memchr(v + 1, '\\', (size_t)(ve - v - 2)))
        return false;
    *s = v + 1;
    *n = (size_t)(ve - v - 2);
    return true;
}

static int name_index(cur s, size_t n, const char *const *names)
{
    for (int i = 0; i < 3; i++)
        if (keq(s, n, names[i]))
            return i;
    return -1;
}

static const char *const persist_names[] = {"transient_held", "placed_room", "placed_saved"};
static const char *const tier_names[] = {"high_rate_unreliable", "reliable_on_change",
                                         "snapshot_only"};

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (n > cap - b->n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The members of one output object.  Members copied as sent are gathered into runs of
 * the body's bytes (with the commas between them) and copied once per run. */
struct obj_out {
    struct buf *b;
    cur rs, re; /* pending run; rs NULL: none */
    bool first;
};

static void flush(struct obj_out *o)
{
    if (o->rs)
        put(o->b, o->rs, (size_t)(o->re - o->rs));
    o->rs = NULL;
}

/* ,"key":value as sent (the comma unless first) */
static void put_member(struct obj_out *o, const struct member *m)
{
    cur ks = m->k - 1;
    if (o->rs && ks == o->re + 1 && *o->re == ',') {
        o->re = m->ve; /* follows the run: only a comma between */
        return;
    }
    flush(o);
    if (!o->first)
        put(o->b, ",", 1);
    o->first = false;
    if (m->v == m->k + m->kn + 2) { /* "key":value without spaces */
        o->rs = ks;
        o->re = m->ve;
        return;
    }
    put(o->b, ks, m->kn + 2);
    put(o->b, ":", 1);
    put(o->b, m->v, (size_t)(m->ve - m->v));
}

static void put_named(struct obj_out *o, const char *text)
{
    flush(o);
    if (!o->first)
        put(o->b, ",", 1);
    o->first = false;
    puts_(o->b, text);
}

/* Every manifest valid, its declarations recorded. */
static bool read_manifests(struct ctx *c, cur v)
{
    struct member ms[ROOMSCAN_MAX_KEYS], ps[ROOMSCAN_MAX_KEYS], ds[ROOMSCAN_MAX_KEYS];
    if (*v != '{')
        return false;
    cur end;
    c->nman = members(v, ms, &end);
    for (size_t i = 0; i < c->nman; i++) {
        struct manifest *m = &c->man[i];
        m->k = ms[i].k;
        m->kn = ms[i].kn;
        m->v = ms[i].v;
        m->ve = ms[i].ve;
        m->first = c->nprops;
        if (*m->v != '{')
            return false;
        size_t n = members(m->v, ps, &end), at = SIZE_MAX;
        for (size_t j = 0; j < n; j++)
            if (keq(ps[j].k, ps[j].kn, "properties"))
                at = j;
        if (at == SIZE_MAX || *ps[at].v != '{')
            return false;
        m->n = members(ps[at].v, ds, &end);
        if (c->nprops + m->n > c->props_cap) {
            size_t cap = c->props_cap ? c->props_cap * 2 : 64;
            while (cap < c->nprops + m->n)
                cap *= 2;
            struct prop *np = realloc(c->props, cap * sizeof *np);
            if (!np)
                return false;
            c->props = np;
            c->props_cap = cap;
        }
        for (size_t j = 0; j < m->n; j++) {
            struct member fs[ROOMSCAN_MAX_KEYS];
            int tier = -1, durable = -1;
            cur s;
            size_t sn;
            if (*ds[j].v != '{')
                return false;
            size_t nf = members(ds[j].v, fs, &end);
            for (size_t f = 0; f < nf; f++) {
                if (keq(fs[f].k, fs[f].kn, "tier")) {
                    if (!plain_str(fs[f].v, fs[f].ve, &s, &sn) ||
                        (tier = name_index(s, sn, tier_names)) < 0)
                        return false;
                } else if (keq(fs[f].k, fs[f].kn, "durable")) {
                    if (*fs[f].v != 't' && *fs[f].v != 'f')
                        return false;
                    durable = *fs[f].v == 't';
                }
            }
            if (tier < 0)
                return false;
            struct prop *pr = &c->props[c->nprops++];
            pr->k = ds[j].k;
            pr->kn = ds[j].kn;
            pr->durable = roomdoc_is_durable((enum roomdoc_tier)tier, durable);
        }
    }
    return true;
}

static uint64_t hash_bytes(cur s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

/* Adds an object id; false when already there (or out of memory). */
static bool id_add(struct ctx *c, cur s, size_t n)
{
    if (2 * (c->ids_n + 1) > c->ids_cap) {
        size_t cap = c->ids_cap ? c->ids_cap * 2 : 1024;
        struct idslot *t = calloc(cap, sizeof *t);
        if (!t)
            return false;
        for (size_t i = 0; i < c->ids_cap; i++) {
            if (!c->ids[i].p)
                continue;
            size_t j = hash_bytes(c->ids[i].p, c->ids[i].n) & (cap - 1);
            while (t[j].p)
                j = (j + 1) & (cap - 1);
            t[j] = c->ids[i];
        }
        free(c->ids);
        c->ids = t;
        c->ids_cap = cap;
    }
    size_t j = hash_bytes(s, n) & (c->ids_cap - 1);
    for (; c->ids[j].p; j = (j + 1) & (c->ids_cap - 1))
        if (c->ids[j].n == n && memcmp(c->ids[j].p, s, n) == 0)
            return false;
    c->ids[j].p = s;
    c->ids[j].n = n;
    c->ids_n++;
    return true;
}

/* An array of exactly n numbers. */
static bool vec_ok(const struct member *m, size_t n)
{
    size_t k = 0, d;
    if (!m || *m->v != '[')
        return !m;
    cur p = ws2(m->v + 1);
    if (*p == ']')
        return n == 0;
    for (;;) {
        if (*p != '-' && !(*p >= '0' && *p <= '9'))
            return false;
        p = ws2(skip(p, &d));
        k++;
        if (*p != ',')
            return k == n;
        p = ws2(p + 1);
    }
}

/* clang-format off */
enum field { F_OTHER = 0, F_OBJECT_ID, F_PERSIST_MODE, F_SEQ, F_OWNER_ID, F_HELD_BY, F_PLACED,
             F_MANIFEST_ID, F_TRANSFORM, F_PROPERTIES, F_COUNT };
static const char *const field_names[F_COUNT] = {
    [F_OBJECT_ID] = "object_id", [F_PERSIST_MODE] = "persist_mode", [F_SEQ] = "seq",
    [F_OWNER_ID] = "owner_id", [F_HELD_BY] = "held_by", [F_PLACED] = "placed",
    [F_MANIFEST_ID] = "manifest_id", [F_TRANSFORM] = "transform", [F_PROPERTIES] = "properties"};
/* clang-format on */

static const unsigned char field_len[F_COUNT] = {0, 9, 12, 3, 8, 7, 6, 11, 9, 10};

static enum field field_of(cur k, size_t kn)
{
    for (int f = F_OBJECT_ID; f < F_COUNT; f++)
        if (kn == field_len[f] && k[0] == (unsigned char)field_names[f][0] &&
            memcmp(k, field_names[f], kn) == 0)
            return (enum field)f;
    return F_OTHER;
}

/* The stored form of a valid placed_saved object (as roomdoc.c's stored_in_place). */
static void put_stored(struct buf *b, const struct member *om, size_t n, const size_t at[F_COUNT],
                       const struct member *tm, size_t tn, const struct member *pm,
                       const bool *keep, size_t pn, size_t nd)
{
    struct obj_out o = {.b = b, .first = true};
    put(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        enum field f = field_of(om[i].k, om[i].kn);
        if (f == F_OWNER_ID) {
            put_named(&o, "\"owner_id\":null");
        } else if (f == F_HELD_BY) {
            put_named(&o, "\"held_by\":null");
        } else if (f == F_PLACED) {
            put_named(&o, "\"placed\":true");
        } else if (f == F_TRANSFORM) {
            struct obj_out t = {.b = b, .first = true};
            size_t kept = 0;
            bool has_scale = false;
            for (size_t j = 0; j < tn; j++) {
                bool sc = keq(tm[j].k, tm[j].kn, "scale");
                has_scale |= sc;
                kept +=
                    sc || keq(tm[j].k, tm[j].kn, "position") || keq(tm[j].k, tm[j].kn, "rotation");
            }
            if (has_scale && kept == tn) { /* as sent */
                put_member(&o, &om[i]);
                continue;
            }
            put_named(&o, "\"transform\":{");
            for (size_t j = 0; j < tn; j++)
                if (keq(tm[j].k, tm[j].kn, "position") || keq(tm[j].k, tm[j].kn, "rotation") ||
                    keq(tm[j].k, tm[j].kn, "scale"))
                    put_member(&t, &tm[j]);
            if (!has_scale)
                put_named(&t, "\"scale\":[1,1,1]");
            flush(&t);
            put(b, "}", 1);
        } else if (f == F_PROPERTIES) {
            if (nd == 0) { /* every property durable: as sent */
                put_member(&o, &om[i]);
                continue;
            }
            struct obj_out p = {.b = b, .first = true};
            put_named(&o, "\"properties\":{");
            for (size_t j = 0; j < pn; j++)
                if (keep[j])
                    put_member(&p, &pm[j]);
            flush(&p);
            put(b, "}", 1);
        } else {
            put_member(&o, &om[i]);
        }
    }
    if (at[F_OWNER_ID] == SIZE_MAX)
        put_named(&o, "\"owner_id\":null");
    if (at[F_HELD_BY] == SIZE_MAX)
        put_named(&o, "\"held_by\":null");
    if (at[F_PLACED] == SIZE_MAX)
        put_named(&o, "\"placed\":true");
    if (at[F_SEQ] == SIZE_MAX)
        put_named(&o, "\"seq\":0");
    if (at[F_PROPERTIES] == SIZE_MAX)
        put_named(&o, "\"properties\":{}");
    flush(&o);
    put(b, "}", 1);
}

/* One element of "objects": true when valid (its stored form appended when kept). */
static bool check_object(struct ctx *c, cur o, cur *end)
{
    struct member om[ROOMSCAN_MAX_KEYS], tm[ROOMSCAN_MAX_KEYS], pm[ROOMSCAN_MAX_KEYS];
    bool keep[ROOMSCAN_MAX_KEYS];
    size_t at[F_COUNT], tn = 0, pn = 0, nd = 0, sn;
    cur s, tend;
    if (*o != '{')
        return false;
    size_t n = members(o, om, end);
    for (int f = 0; f < F_COUNT; f++)
        at[f] = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        at[field_of(om[i].k, om[i].kn)] = i;
#define FIELD(f) (at[f] == SIZE_MAX ? NULL : &om[at[f]])
    const struct member *id = FIELD(F_OBJECT_ID), *pmode = FIELD(F_PERSIST_MODE),
                        *seq = FIELD(F_SEQ), *owner = FIELD(F_OWNER_ID), *held = FIELD(F_HELD_BY),
                        *placed = FIELD(F_PLACED), *mid = FIELD(F_MANIFEST_ID),
                        *tr = FIELD(F_TRANSFORM), *props = FIELD(F_PROPERTIES);
#undef FIELD
    if (!id || !plain_str(id->v, id->ve, &s, &sn) || sn == 0 || sn > OBJECT_ID_MAX_BYTES ||
        !id_add(c, s, sn))
        return false;
    int mode;
    if (!pmode || !plain_str(pmode->v, pmode->ve, &s, &sn) ||
        (mode = name_index(s, sn, persist_names)) < 0)
        return false;
    if (seq)
        for (cur p = seq->v; p < seq->ve; p++)
            if (*p < '0' || *p > '9')
                return false; /* a negative, a real (or not a number) */
    if ((owner && *owner->v != '"' && *owner->v != 'n') ||
        (held && *held->v != '"' && *held->v != 'n') ||
        (placed && *placed->v != 't' && *placed->v != 'f'))
        return false;
    bool saved = mode == ROOMDOC_PLACED_SAVED;
    struct manifest *m = NULL;
    if (mid && *mid->v != '"')
        return false;
    if (saved) {
        if (!mid || !plain_str(mid->v, mid->ve, &s, &sn))
            return false;
        for (size_t i = 0; i < c->nman && !m; i++)
            if (c->man[i].kn == sn && memcmp(c->man[i].k, s, sn) == 0)
                m = &c->man[i];
        if (!m)
            return false;
    }
    if (saved && !tr)
        return false;
    if (tr) {
        const struct member *pos = NULL, *rot = NULL, *scale = NULL;
        if (*tr->v != '{')
            return false;
        tn = members(tr->v, tm, &tend);
        for (size_t i = 0; i < tn; i++) {
            if (keq(tm[i].k, tm[i].kn, "position"))
                pos = &tm[i];
            else if (keq(tm[i].k, tm[i].kn, "rotation"))
                rot = &tm[i];
            else if (keq(tm[i].k, tm[i].kn, "scale"))
                scale = &tm[i];
        }
        if ((saved && (!pos || !rot)) || !vec_ok(pos, 3) || !vec_ok(rot, 4) || !vec_ok(scale, 3))
            return false;
    }
    if (props) {
        if (*props->v != '{')
            return false;
        pn = members(props->v, pm, &tend);
        for (size_t i = 0; i < pn; i++) {
            if (pm[i].depth > c->max_depth)
                return false;
            keep[i] = false;
            if (!saved)
                continue;
            const struct prop *d = NULL;
            for (size_t j = m->first; j < m->first + m->n && !d; j++)
                if (c->props[j].kn == pm[i].kn && memcmp(c->props[j].k, pm[i].k, pm[i].kn) == 0)
                    d = &c->props[j];
            if (!d)
                return false; /* undeclared */
            keep[i] = d->durable;
            nd += !d->durable;
        }
    }
    if (mode == ROOMDOC_TRANSIENT_HELD)
        c->st.dropped_transient_held++;
    else if (mode == ROOMDOC_PLACED_ROOM)
        c->st.dropped_placed_room++;
    if (!saved)
        return true;
    if (c->objs.n)
        put(&c->objs, ",", 1);
    put_stored(&c->objs, om, n, at, tm, tn, pm, keep, pn, nd);
    m->used = true;
    c->st.objects_saved++;
    c->st.non_durable_properties += nd;
    return true;
}

static enum roomscan_result walk(struct ctx *c, cur body, char **doc, size_t *doc_len)
{
    const struct jsyntax_member *mans = NULL, *objs = NULL;
    cur p = ws2(body);
    if (*p != '{')
        return ROOMSCAN_FALLBACK;
    for (size_t i = 0; i < c->syn.ntop; i++) {
        if (keq(c->syn.top[i].k, c->syn.top[i].kn, "manifests"))
            mans = &c->syn.top[i];
        else if (keq(c->syn.top[i].k, c->syn.top[i].kn, "objects"))
            objs = &c->syn.top[i];
    }
    if (!mans || !objs || !read_manifests(c, mans->v) || *objs->v != '[')
        return ROOMSCAN_FALLBACK;
    size_t count = 0;
    p = ws2(objs->v + 1);
    if (*p != ']')
        for (;;) {
            cur end;
            if (++count > c->max_objects || !check_object(c, p, &end))
                return ROOMSCAN_FALLBACK;
            p = ws2(end);
            if (*p != ',')
                break;
            p = ws2(p + 1);
        }
    struct buf out = {0};
    struct obj_out mo = {.b = &out, .first = true};
    puts_(&out, "{\"manifests\":{");
    for (size_t i = 0; i < c->nman; i++)
        if (c->man[i].used) {
            struct member mm = {
                .k = c->man[i].k, .kn = c->man[i].kn, .v = c->man[i].v, .ve = c->man[i].ve};
            put_member(&mo, &mm);
        }
    flush(&mo);
    puts_(&out, "},\"objects\":[");
    put(&out, c->objs.p, c->objs.n);
    put(&out, "]}", 3); /* with the NUL */
    if (out.oom || c->objs.oom) {
        free(out.p);
        return ROOMSCAN_NOMEM;
    }
    *doc = (char *)out.p;
    *doc_len = out.n - 1;
    return ROOMSCAN_OK;
}

enum roomscan_result roomscan_filter(const char *body, size_t len,
                                     const struct roomdoc_limits *limits, char **doc,
                                     size_t *doc_len, struct roomdoc_stats *stats)
{
    enum roomscan_result rc = ROOMSCAN_FALLBACK;
    *doc = NULL;
    *doc_len = 0;
    struct ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ROOMSCAN_NOMEM;
    c->max_objects = limits && limits->max_objects ? limits->max_objects : 10000;
    c->max_depth = limits && limits->max_value_depth ? limits->max_value_depth : 32;
    if (!jsyntax_check(&c->syn, body, len))
        goto out;
    rc = walk(c, (cur)body, doc, doc_len);
    if (rc == ROOMSCAN_OK && stats)
        *stats = c->st;
out:
    free(c->objs.p);
    free(c->props);
    free(c->ids);
    free(c);
    return rc;
}
