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

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char *cur;

struct prop {
    cur k;
    size_t kn;
    bool durable;
};

typedef struct jsyntax_member member;

struct manifest {
    const member *m; /* its member of "manifests": its key is the manifest's id */
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

struct ctx {
    struct manifest man[ROOMSCAN_MAX_KEYS];
    size_t nman;
    struct prop *props;
    size_t nprops, props_cap;
    struct idslot *ids;
    size_t ids_cap, ids_n;
    size_t max_depth, max_objects;
    struct roomdoc_stats st;
    struct buf objs;
    unsigned char field_guess[ROOMSCAN_MAX_KEYS]; /* field_of: per position in an object */
    signed char vector_guess[ROOMSCAN_MAX_KEYS];  /* vector_of: per position in a transform */
    int mode_guess;                               /* the last persist mode read */
    struct jsyntax syn; /* pass 1: the body and its tape (last: its stack needs no zeroing) */
};

/* ---- pass 2: the document, known to be valid JSON, read from pass 1's tape ---- */

/* The members of the object that is m's value (false when that is no object). */
static bool members(const struct ctx *c, const member *m, const member **ms, size_t *n)
{
    if (m->kind != JSYNTAX_OBJECT)
        return false;
    const struct jsyntax_node *nd = &c->syn.node[m->node];
    *ms = c->syn.mem + nd->first;
    *n = nd->n;
    return true;
}

static inline cur key_of(const struct ctx *c, const member *m)
{
    return c->syn.b + m->k;
}

static bool keq(cur k, size_t kn, const char *s)
{
    size_t n = strlen(s);
    return kn == n && memcmp(k, s, n) == 0;
}

static bool key_is(const struct ctx *c, const member *m, const char *s)
{
    return keq(key_of(c, m), m->kn, s);
}

/* a[n] == b[n] for 2 * w >= n >= w: the first and the last w bytes (memcpy: no unaligned
 * access), nothing read outside either. */
static inline bool ends_eq(const unsigned char *a, const char *b, size_t n, size_t w)
{
    uint64_t x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    memcpy(&x0, a, w);
    memcpy(&y0, b, w);
    memcpy(&x1, a + n - w, w);
    memcpy(&y1, b + n - w, w);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
}

/* a[n] == b[n], inline for the short names of the description (two overlapping loads of 8
 * or 4 bytes each). */
static inline bool name_eq(const unsigned char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16)
        return ends_eq(a, b, n, 8);
    if (n >= 4 && n < 8)
        return ends_eq(a, b, n, 4);
    return memcmp(a, b, n) == 0;
}

/* The member of the description a key names.  Objects of one document mostly list the same
 * members in the same order, so the field at the same position of the previous object
 * (*guess) is tried first: one compare instead of a search.  A guess of ROOMSCHEMA_OTHER
 * (name "", length 0) matches only the key "", which is no other member either. */
static inline enum roomschema_field field_of(const struct ctx *c, const member *m,
                                             unsigned char *guess)
{
    const struct roomschema_member *d = &roomschema_members[*guess];
    cur k = key_of(c, m);
    if (m->kn == d->len && name_eq(k, d->name, d->len))
        return (enum roomschema_field) * guess;
    enum roomschema_field f = roomschema_field_of((const char *)k, m->kn);
    *guess = (unsigned char)f;
    return f;
}

/* The same for the transform's vectors: the index in roomschema_vectors, or -1. */
static inline int vector_of(const struct ctx *c, const member *m, signed char *guess)
{
    cur k = key_of(c, m);
    if (*guess >= 0 && m->kn == roomschema_vectors[*guess].len &&
        name_eq(k, roomschema_vectors[*guess].name, m->kn))
        return *guess;
    return *guess = (signed char)roomschema_vector_of((const char *)k, m->kn);
}

/* The persist mode named s[n] (the last one read tried first), or -1. */
static inline int mode_of(struct ctx *c, cur s, size_t n)
{
    const struct roomschema_mode *g = &roomschema_modes[c->mode_guess];
    if (n == g->len && name_eq(s, g->name, n))
        return c->mode_guess;
    int m = roomschema_mode_of((const char *)s, n);
    if (m >= 0)
        c->mode_guess = m;
    return m;
}

/* A string value without escapes: its bytes (between the quotes) in *s, *n. */
static bool plain_str(const struct ctx *c, const member *m, cur *s, size_t *n)
{
    if (m->kind != JSYNTAX_STRING)
        return false;
    *s = c->syn.b + m->v + 1;
    *n = m->ve - m->v - 2;
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
    cur base;   /* the body */
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
static void put_member(struct obj_out *o, const member *m)
{
    cur ks = o->base + m->k - 1, v = o->base + m->v, ve = o->base + m->ve;
    if (o->rs && ks == o->re + 1 && *o->re == ',') {
        o->re = ve; /* follows the run: only a comma between */
        return;
    }
    flush(o);
    if (!o->first)
        put(o->b, ",", 1);
    o->first = false;
    if (m->v == m->k + m->kn + 2) { /* "key":value without spaces */
        o->rs = ks;
        o->re = ve;
        return;
    }
    put(o->b, ks, m->kn + 2);
    put(o->b, ":", 1);
    put(o->b, v, (size_t)(ve - v));
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

/* The members the stored form writes itself, as JSON text written once per process:
 * ,"name":value for a value it sets or adds, ,"name":{ for an object it rebuilds.  Every
 * name and value of the description is within roomschema.h's bounds (roomschema.c does not
 * compile otherwise), so every text fits. */
struct text {
    char s[4 + ROOMSCHEMA_NAME_MAX + ROOMSCHEMA_VALUE_MAX];
    size_t n;
};
static struct text field_text[ROOMSCHEMA_FIELDS], field_open[ROOMSCHEMA_FIELDS],
    vector_text[ROOMSCHEMA_VECTORS_N];

#define OPEN_VALUE "{"
_Static_assert(sizeof OPEN_VALUE - 1 <= ROOMSCHEMA_VALUE_MAX, "the text of an object it rebuilds");

/* name: len <= ROOMSCHEMA_NAME_MAX bytes, value: at most ROOMSCHEMA_VALUE_MAX */
static void text_set(struct text *t, const char *name, size_t len, const char *value)
{
    size_t vn = strlen(value);
    t->s[0] = ',';
    t->s[1] = '"';
    memcpy(t->s + 2, name, len);
    t->s[len + 2] = '"';
    t->s[len + 3] = ':';
    memcpy(t->s + len + 4, value, vn);
    t->n = len + vn + 4;
}

static void texts_init(void)
{
    for (int f = 0; f < ROOMSCHEMA_FIELDS; f++) {
        const struct roomschema_member *d = &roomschema_members[f];
        if (d->value)
            text_set(&field_text[f], d->name, d->len, d->value);
        text_set(&field_open[f], d->name, d->len, OPEN_VALUE);
    }
    for (int k = 0; k < ROOMSCHEMA_VECTORS_N; k++)
        if (roomschema_vectors[k].value)
            text_set(&vector_text[k], roomschema_vectors[k].name, roomschema_vectors[k].len,
                     roomschema_vectors[k].value);
}

/* ,"name":value from its text t (the comma unless first) */
static void put_text(struct obj_out *o, const struct text *t)
{
    flush(o);
    put(o->b, t->s + o->first, t->n - o->first);
    o->first = false;
}

/* Every manifest valid, its declarations recorded. */
static bool read_manifests(struct ctx *c, const member *mans)
{
    const member *ms, *ps, *ds, *fs;
    size_t n, nd, nf;
    if (!members(c, mans, &ms, &c->nman))
        return false;
    for (size_t i = 0; i < c->nman; i++) {
        struct manifest *m = &c->man[i];
        m->m = &ms[i];
        m->first = c->nprops;
        const member *decls = NULL;
        if (!members(c, &ms[i], &ps, &n))
            return false;
        for (size_t j = 0; j < n; j++)
            if (key_is(c, &ps[j], ROOMSCHEMA_DECLS))
                decls = &ps[j];
        if (!decls || !members(c, decls, &ds, &nd))
            return false;
        m->n = nd;
        if (grow_array(&c->props, &c->props_cap, c->nprops + nd, sizeof *c->props, 64,
                       ROOMSCAN_PROPS_MAX) != 0)
            return false;
        for (size_t j = 0; j < nd; j++) {
            int tier = -1, durable = -1;
            cur s;
            size_t sn;
            if (!members(c, &ds[j], &fs, &nf))
                return false;
            for (size_t f = 0; f < nf; f++) {
                if (key_is(c, &fs[f], ROOMSCHEMA_DECL_TIER)) {
                    if (!plain_str(c, &fs[f], &s, &sn) ||
                        (tier = roomschema_tier_of((const char *)s, sn)) < 0)
                        return false;
                } else if (key_is(c, &fs[f], ROOMSCHEMA_DECL_DURABLE)) {
                    if (fs[f].kind != JSYNTAX_TRUE && fs[f].kind != JSYNTAX_FALSE)
                        return false;
                    durable = fs[f].kind == JSYNTAX_TRUE;
                }
            }
            if (tier < 0)
                return false;
            struct prop *pr = &c->props[c->nprops++];
            pr->k = key_of(c, &ds[j]);
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
static bool vec_ok(const struct ctx *c, const member *m, size_t n)
{
    if (m->kind != JSYNTAX_ARRAY)
        return false;
    const struct jsyntax_node *nd = &c->syn.node[m->node];
    return nd->n == n && nd->numbers;
}

/* One element of "objects", as check_object reads it. */
struct obj {
    const member *om;                     /* its members */
    unsigned char fld[ROOMSCAN_MAX_KEYS]; /* the enum roomschema_field of each */
    size_t n;
    size_t at[ROOMSCHEMA_FIELDS]; /* index in om of each member of the description; SIZE_MAX */
    int mode;
    struct manifest *m;                  /* of a stored object */
    const member *tm;                    /* the transform's members */
    signed char tvec[ROOMSCAN_MAX_KEYS]; /* index in roomschema_vectors of each, or -1 */
    size_t tn;
    unsigned present;             /* bit i: the transform has roomschema_vectors[i] */
    const member *pm;             /* the properties */
    bool keep[ROOMSCAN_MAX_KEYS]; /* durable: stored */
    size_t pn, nd;                /* nd: properties not kept */
};

static bool check_transform(struct ctx *c, const member *tr, struct obj *o, bool stored)
{
    const member *vec[ROOMSCHEMA_VECTORS_N] = {0};
    if (!members(c, tr, &o->tm, &o->tn))
        return false;
    for (size_t i = 0; i < o->tn; i++) {
        int k = o->tvec[i] = (signed char)vector_of(c, &o->tm[i], &c->vector_guess[i]);
        if (k >= 0) {
            vec[k] = &o->tm[i];
            o->present |= 1u << k;
        }
    }
    for (int k = 0; k < ROOMSCHEMA_VECTORS_N; k++)
        if (vec[k] ? !vec_ok(c, vec[k], roomschema_vectors[k].n)
                   : stored && roomschema_vectors[k].required)
            return false;
    return true;
}

/* The nesting of a value: 0 for a scalar, 1 for [] or {}. */
static size_t depth_of(const struct ctx *c, const member *m)
{
    return m->kind == JSYNTAX_OBJECT || m->kind == JSYNTAX_ARRAY ? c->syn.node[m->node].height : 0;
}

static bool check_properties(struct ctx *c, const member *props, struct obj *o, bool stored)
{
    if ((stored && !o->m) || !members(c, props, &o->pm, &o->pn))
        return false;
    for (size_t i = 0; i < o->pn; i++) {
        if (depth_of(c, &o->pm[i]) > c->max_depth)
            return false;
        o->keep[i] = false;
        if (!stored)
            continue;
        const struct prop *d = NULL;
        cur k = key_of(c, &o->pm[i]);
        for (size_t j = o->m->first; j < o->m->first + o->m->n && !d; j++)
            if (c->props[j].kn == o->pm[i].kn &&
                name_eq(k, (const char *)c->props[j].k, o->pm[i].kn))
                d = &c->props[j];
        if (!d)
            return false; /* undeclared */
        o->keep[i] = d->durable;
        o->nd += !d->durable;
    }
    return true;
}

/* In a stored object, the manifest named must be one of the document's. */
static bool manifest_ok(struct ctx *c, const member *v, struct obj *o, bool stored)
{
    cur s;
    size_t sn;
    if (v->kind != JSYNTAX_STRING && v->kind != JSYNTAX_STRING_ESC)
        return false;
    if (!stored)
        return true;
    if (!plain_str(c, v, &s, &sn))
        return false;
    for (size_t i = 0; i < c->nman && !o->m; i++)
        if (c->man[i].m->kn == sn && name_eq(s, (const char *)key_of(c, c->man[i].m), sn))
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
static bool check_member(struct ctx *c, enum roomschema_field f, const member *v, struct obj *o)
{
    cur s;
    size_t sn;
    bool stored = o->mode >= 0 && roomschema_modes[o->mode].stored;
    enum roomschema_kind kind = roomschema_members[f].kind;
    if (kind < ROOMSCHEMA_KIND_STRING_OR_NULL) {
        if (kind == ROOMSCHEMA_KIND_ID)
            return plain_str(c, v, &s, &sn) && sn > 0 && sn <= ROOMSCHEMA_OBJECT_ID_MAX_BYTES &&
                   id_add(c, s, sn);
        if (kind == ROOMSCHEMA_KIND_MODE)
            return plain_str(c, v, &s, &sn) && (o->mode = mode_of(c, s, sn)) >= 0;
        return v->kind == JSYNTAX_UINT; /* not a negative, a real (or not a number) */
    }
    if (kind < ROOMSCHEMA_KIND_MANIFEST)
        return kind == ROOMSCHEMA_KIND_BOOLEAN
                   ? v->kind == JSYNTAX_TRUE || v->kind == JSYNTAX_FALSE
                   : v->kind == JSYNTAX_STRING || v->kind == JSYNTAX_STRING_ESC ||
                         v->kind == JSYNTAX_NULL;
    if (kind == ROOMSCHEMA_KIND_MANIFEST)
        return manifest_ok(c, v, o, stored);
    return kind == ROOMSCHEMA_KIND_TRANSFORM ? check_transform(c, v, o, stored)
                                             : check_properties(c, v, o, stored);
}

/* The stored form of a valid object of a stored mode (what roomschema_members says of each
 * member, as roomdoc.c's stored_in_place builds it). */
static void put_stored(const struct ctx *c, struct buf *b, const struct obj *x)
{
    struct obj_out o = {.b = b, .base = c->syn.b, .first = true};
    put(b, "{", 1);
    for (size_t i = 0; i < x->n; i++) {
        const member *om = &x->om[i];
        const struct roomschema_member *d = &roomschema_members[x->fld[i]];
        if (d->store == ROOMSCHEMA_STORE_SET) {
            put_text(&o, &field_text[x->fld[i]]);
        } else if (d->store == ROOMSCHEMA_STORE_VECTORS) {
            if (roomschema_vectors_as_sent(x->tn, x->present)) {
                put_member(&o, om);
                continue;
            }
            struct obj_out t = {.b = b, .base = c->syn.b, .first = true};
            put_text(&o, &field_open[x->fld[i]]);
            for (size_t j = 0; j < x->tn; j++)
                if (x->tvec[j] >= 0)
                    put_member(&t, &x->tm[j]);
            for (int k = 0; k < ROOMSCHEMA_VECTORS_N; k++)
                if (!(x->present & (1u << k)) && roomschema_vectors[k].value)
                    put_text(&t, &vector_text[k]);
            flush(&t);
            put(b, "}", 1);
        } else if (d->store == ROOMSCHEMA_STORE_DURABLE && x->nd > 0) {
            struct obj_out p = {.b = b, .base = c->syn.b, .first = true};
            put_text(&o, &field_open[x->fld[i]]);
            for (size_t j = 0; j < x->pn; j++)
                if (x->keep[j])
                    put_member(&p, &x->pm[j]);
            flush(&p);
            put(b, "}", 1);
        } else { /* as sent */
            put_member(&o, om);
        }
    }
    for (int i = 0; i < ROOMSCHEMA_ADDED; i++)
        if (x->at[roomschema_added[i]] == SIZE_MAX)
            put_text(&o, &field_text[roomschema_added[i]]);
    flush(&o);
    put(b, "}", 1);
}

/* One element of "objects" (node nd): true when valid (its stored form appended when kept). */
static bool check_object(struct ctx *c, struct obj *x, size_t nd)
{
    const struct jsyntax_node *node = &c->syn.node[nd];
    if (node->kind != JSYNTAX_OBJECT)
        return false;
    x->om = c->syn.mem + node->first;
    x->n = node->n;
    x->mode = -1;
    x->m = NULL;
    x->tn = x->pn = x->nd = 0;
    x->tm = x->pm = NULL;
    x->present = 0;
    for (int f = 0; f < ROOMSCHEMA_FIELDS; f++)
        x->at[f] = SIZE_MAX;
    for (size_t i = 0; i < x->n; i++) {
        x->fld[i] = (unsigned char)field_of(c, &x->om[i], &c->field_guess[i]);
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
    put_stored(c, &c->objs, x);
    x->m->used = true;
    c->st.objects_saved++;
    c->st.non_durable_properties += x->nd;
    return true;
}

static enum roomscan_result walk(struct ctx *c, char **doc, size_t *doc_len)
{
    const member *mans = NULL, *objs = NULL, *top;
    size_t ntop;
    struct obj obj; /* the object being read */
    if (c->syn.nnode == 0 || c->syn.node[0].kind != JSYNTAX_OBJECT)
        return ROOMSCAN_FALLBACK;
    top = c->syn.mem + c->syn.node[0].first;
    ntop = c->syn.node[0].n;
    for (size_t i = 0; i < ntop; i++) {
        if (key_is(c, &top[i], ROOMSCHEMA_MANIFESTS))
            mans = &top[i];
        else if (key_is(c, &top[i], ROOMSCHEMA_OBJECTS))
            objs = &top[i];
    }
    if (!mans || !objs || !read_manifests(c, mans) || objs->kind != JSYNTAX_ARRAY)
        return ROOMSCAN_FALLBACK;
    /* the elements, each an object: the array's direct children, as many as its elements;
     * over the limit, none is read (the reference reports the limit) */
    const struct jsyntax_node *arr = &c->syn.node[objs->node];
    size_t child = objs->node + 1;
    if (arr->n > c->max_objects)
        return ROOMSCAN_FALLBACK;
    for (size_t i = 0; i < arr->n; i++) {
        if (child >= arr->next || !check_object(c, &obj, child))
            return ROOMSCAN_FALLBACK;
        child = c->syn.node[child].next;
    }
    struct buf out = {0};
    struct obj_out mo = {.b = &out, .base = c->syn.b, .first = true};
    struct obj_out top_out = {.b = &out, .base = c->syn.b, .first = true};
    put(&out, "{", 1);
    put_key(&top_out, ROOMSCHEMA_MANIFESTS, strlen(ROOMSCHEMA_MANIFESTS));
    put(&out, "{", 1);
    for (size_t i = 0; i < c->nman; i++)
        if (c->man[i].used)
            put_member(&mo, c->man[i].m);
    flush(&mo);
    put(&out, "}", 1);
    put_key(&top_out, ROOMSCHEMA_OBJECTS, strlen(ROOMSCHEMA_OBJECTS));
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
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    enum roomscan_result rc = ROOMSCAN_FALLBACK;
    pthread_once(&once, texts_init);
    *doc = NULL;
    *doc_len = 0;
    struct ctx *c = malloc(sizeof *c);
    if (!c)
        return ROOMSCAN_NOMEM;
    /* all but pass 1's stack of open members, written before it is read */
    memset(c, 0, offsetof(struct ctx, syn) + offsetof(struct jsyntax, stk));
    struct roomdoc_limits lim = roomschema_limits(limits);
    c->max_objects = lim.max_objects;
    c->max_depth = lim.max_value_depth;
    memset(c->vector_guess, -1, sizeof c->vector_guess);
    if (!jsyntax_check(&c->syn, body, len))
        goto out;
    rc = walk(c, doc, doc_len);
    if (rc == ROOMSCAN_OK && stats)
        *stats = c->st;
out:
    jsyntax_free(&c->syn);
    free(c->objs.p);
    free(c->props);
    free(c->ids);
    free(c);
    return rc;
}
