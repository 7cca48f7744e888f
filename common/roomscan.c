/* roomscan.c — the save fast path (see roomscan.h).  Pass 1 (jsyntax.c) checks the JSON
 * syntax the way jansson accepts it (strict grammar, UTF-8, escapes, duplicate keys,
 * number ranges) and gives up on anything unusual; pass 2 (here) walks the document, now known to
 * be valid JSON, applies the description of roomschema.h (the rules roomdoc.c applies too) to
 * the valid case and writes the stored document from byte ranges of the body.  Any rule not
 * met: ROOMSCAN_FALLBACK (the reference path reports it). */
#include "common/roomscan.h"

#include "common/grow.h"
#include "common/hash.h"
#include "common/jsyntax.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char *cur;

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

/* The caps of the scanner's growing arrays (common/grow.h): a stored document below the
 * store's 2 GiB, the declared properties of every manifest of one document. */
#define ROOMSCAN_OUT_MAX ((size_t)1 << 31)
#define ROOMSCAN_PROPS_MAX ((size_t)1 << 24)

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

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > b->cap - b->n && grow_array(&b->p, &b->cap, b->n + n, 1, 4096, ROOMSCAN_OUT_MAX) != 0) {
        b->oom = true; /* out of memory, or an output past its cap: the caller falls back */
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
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

/* ,"name": (the comma unless first) */
static void put_key(struct obj_out *o, const char *name, size_t len)
{
    flush(o);
    if (!o->first)
        put(o->b, ",", 1);
    o->first = false;
    put(o->b, "\"", 1);
    put(o->b, name, len);
    put(o->b, "\":", 2);
}

/* ,"name":value with value a JSON text (one copy when it fits a short buffer) */
static void put_value(struct obj_out *o, const char *name, size_t len, const char *value)
{
    char t[64];
    size_t vn = strlen(value), n = 0;
    if (len + vn + 4 > sizeof t) {
        put_key(o, name, len);
        put(o->b, value, vn);
        return;
    }
    flush(o);
    if (!o->first)
        t[n++] = ',';
    o->first = false;
    t[n++] = '"';
    memcpy(t + n, name, len);
    n += len;
    t[n++] = '"';
    t[n++] = ':';
    memcpy(t + n, value, vn);
    put(o->b, t, n + vn);
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
            if (keq(ps[j].k, ps[j].kn, ROOMSCHEMA_DECLS))
                at = j;
        if (at == SIZE_MAX || *ps[at].v != '{')
            return false;
        m->n = members(ps[at].v, ds, &end);
        if (grow_array(&c->props, &c->props_cap, c->nprops + m->n, sizeof *c->props, 64,
                       ROOMSCAN_PROPS_MAX) != 0)
            return false;
        for (size_t j = 0; j < m->n; j++) {
            struct member fs[ROOMSCAN_MAX_KEYS];
            int tier = -1, durable = -1;
            cur s;
            size_t sn;
            if (*ds[j].v != '{')
                return false;
            size_t nf = members(ds[j].v, fs, &end);
            for (size_t f = 0; f < nf; f++) {
                if (keq(fs[f].k, fs[f].kn, ROOMSCHEMA_DECL_TIER)) {
                    if (!plain_str(fs[f].v, fs[f].ve, &s, &sn) ||
                        (tier = roomschema_tier_of((const char *)s, sn)) < 0)
                        return false;
                } else if (keq(fs[f].k, fs[f].kn, ROOMSCHEMA_DECL_DURABLE)) {
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
            size_t j = hash_seeded(c->ids[i].p, c->ids[i].n) & (cap - 1);
            while (t[j].p)
                j = (j + 1) & (cap - 1);
            t[j] = c->ids[i];
        }
        free(c->ids);
        c->ids = t;
        c->ids_cap = cap;
    }
    size_t j = hash_seeded(s, n) & (c->ids_cap - 1); /* ids are the client's */
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
    if (*m->v != '[')
        return false;
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

/* One element of "objects", as check_object reads it. */
struct obj {
    struct member om[ROOMSCAN_MAX_KEYS];  /* its members */
    unsigned char fld[ROOMSCAN_MAX_KEYS]; /* the enum roomschema_field of each */
    size_t n;
    size_t at[ROOMSCHEMA_FIELDS]; /* index in om of each member of the description; SIZE_MAX */
    int mode;
    struct manifest *m;                  /* of a stored object */
    struct member tm[ROOMSCAN_MAX_KEYS]; /* the transform's members */
    signed char tvec[ROOMSCAN_MAX_KEYS]; /* index in roomschema_vectors of each, or -1 */
    size_t tn;
    unsigned present;                    /* bit i: the transform has roomschema_vectors[i] */
    struct member pm[ROOMSCAN_MAX_KEYS]; /* the properties */
    bool keep[ROOMSCAN_MAX_KEYS];        /* durable: stored */
    size_t pn, nd;                       /* nd: properties not kept */
};

static bool check_transform(const struct member *tr, struct obj *o, bool stored)
{
    const struct member *vec[ROOMSCHEMA_VECTORS_N] = {0};
    cur end;
    if (*tr->v != '{')
        return false;
    o->tn = members(tr->v, o->tm, &end);
    for (size_t i = 0; i < o->tn; i++) {
        int k = o->tvec[i] =
            (signed char)roomschema_vector_of((const char *)o->tm[i].k, o->tm[i].kn);
        if (k >= 0) {
            vec[k] = &o->tm[i];
            o->present |= 1u << k;
        }
    }
    for (int k = 0; k < ROOMSCHEMA_VECTORS_N; k++)
        if (vec[k] ? !vec_ok(vec[k], roomschema_vectors[k].n)
                   : stored && roomschema_vectors[k].required)
            return false;
    return true;
}

static bool check_properties(struct ctx *c, const struct member *props, struct obj *o, bool stored)
{
    cur end;
    if (*props->v != '{' || (stored && !o->m))
        return false;
    o->pn = members(props->v, o->pm, &end);
    for (size_t i = 0; i < o->pn; i++) {
        if (o->pm[i].depth > c->max_depth)
            return false;
        o->keep[i] = false;
        if (!stored)
            continue;
        const struct prop *d = NULL;
        for (size_t j = o->m->first; j < o->m->first + o->m->n && !d; j++)
            if (c->props[j].kn == o->pm[i].kn &&
                memcmp(c->props[j].k, o->pm[i].k, o->pm[i].kn) == 0)
                d = &c->props[j];
        if (!d)
            return false; /* undeclared */
        o->keep[i] = d->durable;
        o->nd += !d->durable;
    }
    return true;
}

static bool count_ok(const struct member *v)
{
    for (cur p = v->v; p < v->ve; p++)
        if (*p < '0' || *p > '9')
            return false; /* a negative, a real (or not a number) */
    return true;
}

/* In a stored object, the manifest named must be one of the document's. */
static bool manifest_ok(struct ctx *c, const struct member *v, struct obj *o, bool stored)
{
    cur s;
    size_t sn;
    if (*v->v != '"')
        return false;
    if (!stored)
        return true;
    if (!plain_str(v->v, v->ve, &s, &sn))
        return false;
    for (size_t i = 0; i < c->nman && !o->m; i++)
        if (c->man[i].kn == sn && memcmp(c->man[i].k, s, sn) == 0)
            o->m = &c->man[i];
    return o->m != NULL;
}

_Static_assert(ROOMSCHEMA_KIND_ID < ROOMSCHEMA_KIND_STRING_OR_NULL &&
                   ROOMSCHEMA_KIND_MODE < ROOMSCHEMA_KIND_STRING_OR_NULL &&
                   ROOMSCHEMA_KIND_COUNT < ROOMSCHEMA_KIND_STRING_OR_NULL &&
                   ROOMSCHEMA_KIND_STRING_OR_NULL < ROOMSCHEMA_KIND_MANIFEST &&
                   ROOMSCHEMA_KIND_BOOLEAN < ROOMSCHEMA_KIND_MANIFEST &&
                   ROOMSCHEMA_KIND_TRANSFORM > ROOMSCHEMA_KIND_MANIFEST &&
                   ROOMSCHEMA_KIND_PROPERTIES > ROOMSCHEMA_KIND_MANIFEST,
               "check_member's tree of compares groups the kinds by these ranges");

/* A member present in the object, against its kind: false when the reference might refuse
 * it (the caller falls back).  A tree of compares rather than a switch: a switch's jump
 * table is one indirect branch taken for every member of every object, whose mispredictions
 * cost ~6 % of a 500-object save (bench/savebench.c); each branch here is predicted alone. */
static bool check_member(struct ctx *c, enum roomschema_field f, const struct member *v,
                         struct obj *o)
{
    cur s;
    size_t sn;
    bool stored = o->mode >= 0 && roomschema_modes[o->mode].stored;
    enum roomschema_kind kind = roomschema_members[f].kind;
    if (kind < ROOMSCHEMA_KIND_STRING_OR_NULL) {
        if (kind == ROOMSCHEMA_KIND_ID)
            return plain_str(v->v, v->ve, &s, &sn) && sn > 0 &&
                   sn <= ROOMSCHEMA_OBJECT_ID_MAX_BYTES && id_add(c, s, sn);
        if (kind == ROOMSCHEMA_KIND_MODE)
            return plain_str(v->v, v->ve, &s, &sn) &&
                   (o->mode = roomschema_mode_of((const char *)s, sn)) >= 0;
        return count_ok(v);
    }
    if (kind < ROOMSCHEMA_KIND_MANIFEST)
        return kind == ROOMSCHEMA_KIND_BOOLEAN ? *v->v == 't' || *v->v == 'f'
                                               : *v->v == '"' || *v->v == 'n';
    if (kind == ROOMSCHEMA_KIND_MANIFEST)
        return manifest_ok(c, v, o, stored);
    return kind == ROOMSCHEMA_KIND_TRANSFORM ? check_transform(v, o, stored)
                                             : check_properties(c, v, o, stored);
}

/* The stored form of a valid object of a stored mode (what roomschema_members says of each
 * member, as roomdoc.c's stored_in_place builds it). */
static void put_stored(struct buf *b, const struct obj *x)
{
    struct obj_out o = {.b = b, .first = true};
    put(b, "{", 1);
    for (size_t i = 0; i < x->n; i++) {
        const struct member *om = &x->om[i];
        const struct roomschema_member *d = &roomschema_members[x->fld[i]];
        if (d->store == ROOMSCHEMA_STORE_SET) {
            put_value(&o, d->name, d->len, d->value);
        } else if (d->store == ROOMSCHEMA_STORE_VECTORS) {
            if (roomschema_vectors_as_sent(x->tn, x->present)) {
                put_member(&o, om);
                continue;
            }
            struct obj_out t = {.b = b, .first = true};
            put_key(&o, d->name, d->len);
            put(b, "{", 1);
            for (size_t j = 0; j < x->tn; j++)
                if (x->tvec[j] >= 0)
                    put_member(&t, &x->tm[j]);
            for (int k = 0; k < ROOMSCHEMA_VECTORS_N; k++)
                if (!(x->present & (1u << k)) && roomschema_vectors[k].value)
                    put_value(&t, roomschema_vectors[k].name, roomschema_vectors[k].len,
                              roomschema_vectors[k].value);
            flush(&t);
            put(b, "}", 1);
        } else if (d->store == ROOMSCHEMA_STORE_DURABLE && x->nd > 0) {
            struct obj_out p = {.b = b, .first = true};
            put_key(&o, d->name, d->len);
            put(b, "{", 1);
            for (size_t j = 0; j < x->pn; j++)
                if (x->keep[j])
                    put_member(&p, &x->pm[j]);
            flush(&p);
            put(b, "}", 1);
        } else { /* as sent */
            put_member(&o, om);
        }
    }
    for (int i = 0; i < ROOMSCHEMA_ADDED; i++) {
        const struct roomschema_member *d = &roomschema_members[roomschema_added[i]];
        if (x->at[roomschema_added[i]] == SIZE_MAX)
            put_value(&o, d->name, d->len, d->value);
    }
    flush(&o);
    put(b, "}", 1);
}

/* One element of "objects": true when valid (its stored form appended when kept). */
static bool check_object(struct ctx *c, struct obj *x, cur o, cur *end)
{
    if (*o != '{')
        return false;
    x->n = members(o, x->om, end);
    x->mode = -1;
    x->m = NULL;
    x->tn = x->pn = x->nd = 0;
    x->present = 0;
    for (int f = 0; f < ROOMSCHEMA_FIELDS; f++)
        x->at[f] = SIZE_MAX;
    for (size_t i = 0; i < x->n; i++) {
        x->fld[i] = (unsigned char)roomschema_field_of((const char *)x->om[i].k, x->om[i].kn);
        x->at[x->fld[i]] = i;
    }
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        const struct roomschema_member *d = &roomschema_members[f];
        bool stored = x->mode >= 0 && roomschema_modes[x->mode].stored;
        if (x->at[f] == SIZE_MAX) {
            if (d->need == ROOMSCHEMA_REQUIRED || (d->need == ROOMSCHEMA_REQUIRED_STORED && stored))
                return false;
        } else if (!check_member(c, (enum roomschema_field)f, &x->om[x->at[f]], x)) {
            return false;
        }
    }
    if (x->mode < 0) /* persist_mode not required (cannot happen with roomschema_members) */
        return false;
    if (!roomschema_modes[x->mode].stored) {
        roomschema_count_dropped(&c->st, x->mode);
        return true;
    }
    if (c->objs.n)
        put(&c->objs, ",", 1);
    put_stored(&c->objs, x);
    x->m->used = true;
    c->st.objects_saved++;
    c->st.non_durable_properties += x->nd;
    return true;
}

static enum roomscan_result walk(struct ctx *c, cur body, char **doc, size_t *doc_len)
{
    const struct jsyntax_member *mans = NULL, *objs = NULL;
    struct obj obj; /* the object being read */
    cur p = ws2(body);
    if (*p != '{')
        return ROOMSCAN_FALLBACK;
    for (size_t i = 0; i < c->syn.ntop; i++) {
        if (keq(c->syn.top[i].k, c->syn.top[i].kn, ROOMSCHEMA_MANIFESTS))
            mans = &c->syn.top[i];
        else if (keq(c->syn.top[i].k, c->syn.top[i].kn, ROOMSCHEMA_OBJECTS))
            objs = &c->syn.top[i];
    }
    if (!mans || !objs || !read_manifests(c, mans->v) || *objs->v != '[')
        return ROOMSCAN_FALLBACK;
    size_t count = 0;
    p = ws2(objs->v + 1);
    if (*p != ']')
        for (;;) {
            cur end;
            if (++count > c->max_objects || !check_object(c, &obj, p, &end))
                return ROOMSCAN_FALLBACK;
            p = ws2(end);
            if (*p != ',')
                break;
            p = ws2(p + 1);
        }
    struct buf out = {0};
    struct obj_out mo = {.b = &out, .first = true};
    struct obj_out top = {.b = &out, .first = true};
    put(&out, "{", 1);
    put_key(&top, ROOMSCHEMA_MANIFESTS, strlen(ROOMSCHEMA_MANIFESTS));
    put(&out, "{", 1);
    for (size_t i = 0; i < c->nman; i++)
        if (c->man[i].used) {
            struct member mm = {
                .k = c->man[i].k, .kn = c->man[i].kn, .v = c->man[i].v, .ve = c->man[i].ve};
            put_member(&mo, &mm);
        }
    flush(&mo);
    put(&out, "}", 1);
    put_key(&top, ROOMSCHEMA_OBJECTS, strlen(ROOMSCHEMA_OBJECTS));
    put(&out, "[", 1);
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
    struct roomdoc_limits lim = roomschema_limits(limits);
    c->max_objects = lim.max_objects;
    c->max_depth = lim.max_value_depth;
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
