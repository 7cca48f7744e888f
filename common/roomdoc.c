/* roomdoc.c — the room document rules over a parsed body (the jansson tree): one pass that
 * applies the description of roomschema.h, records every problem with its JSON path
 * (roomerr.h) and builds the stored document.
 *
 * Choices where the contract leaves room (also written into openapi.yaml):
 *  - objects that are not placed_saved have their optional fields checked for type only:
 *    manifest_id a string, transform an object whose position / rotation / scale, when
 *    present, are 3 / 4 / 3 finite numbers, properties an object (its keys are not checked
 *    against a manifest, as such objects are not stored);
 *  - the depth limit applies to every property value of every object: a scalar has depth
 *    0, [] or {} depth 1, [[1]] depth 2;
 *  - over max_objects, the objects are not examined one by one (the limit bounds the work);
 *  - a stored object keeps every field as sent except owner_id, held_by (null), placed
 *    (true), seq (0 when absent), transform (position, rotation, scale only; scale
 *    defaulted) and properties (durable ones only).
 * The stored document shares its leaf values with the body (reference counts): the caller
 * must not modify the body while the stored document is in use. */
#include "common/roomdoc.h"

#include "common/hash.h"
#include "common/roomerr.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_BYTES (ROOMERR_QUOTE_BYTES + 4)

/* ---- hash sets: object ids by (string, length), manifests by pointer ---- */

struct idset {
    const json_t **slots; /* json strings, or any json values for a pointer set */
    size_t *index;        /* objects[] index of each slot (id sets only) */
    size_t mask;
};

static bool idset_init(struct idset *s, size_t n, bool with_index)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->index = with_index ? calloc(cap, sizeof *s->index) : NULL;
    s->mask = cap - 1;
    return s->slots && (s->index || !with_index);
}

static void idset_clear(struct idset *s)
{
    free(s->slots);
    free(s->index);
}

/* Inserts the string id; returns true when new, false (and *first) when already there. */
static bool idset_add(struct idset *s, const json_t *id, size_t at, size_t *first)
{
    const char *k = json_string_value(id);
    size_t n = json_string_length(id);
    size_t i = (size_t)hash_seeded(k, n) & s->mask; /* ids are the client's */
    while (s->slots[i]) {
        const json_t *o = s->slots[i];
        if (json_string_length(o) == n && memcmp(json_string_value(o), k, n) == 0) {
            *first = s->index[i];
            return false;
        }
        i = (i + 1) & s->mask;
    }
    s->slots[i] = id;
    s->index[i] = at;
    return true;
}

/* Pointer set: finds p's slot, and fills it when add. */
static bool ptrset_find(struct idset *s, const json_t *p, bool add)
{
    size_t i = (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL >> 17) & s->mask;
    while (s->slots[i] && s->slots[i] != p)
        i = (i + 1) & s->mask;
    bool found = s->slots[i] != NULL;
    if (add)
        s->slots[i] = p;
    return found;
}

/* ---- checks ---- */

/* Depth of a JSON value, stopping once it exceeds limit. */
static size_t value_depth(json_t *v, size_t limit)
{
    bool arr = json_is_array(v);
    if (!arr && !json_is_object(v))
        return 0;
    if (limit == 0)
        return 1;
    size_t best = 0, i = 0;
    void *it = arr ? NULL : json_object_iter(v);
    for (;;) {
        json_t *x = arr ? json_array_get(v, i++) : it ? json_object_iter_value(it) : NULL;
        if (!x)
            break;
        it = arr ? NULL : json_object_iter_next(v, it);
        size_t d = value_depth(x, limit - 1);
        if (d > best && (best = d) >= limit)
            break;
    }
    return best + 1;
}

/* A vector of exactly n finite numbers. */
static bool vec_ok(const json_t *v, size_t n)
{
    if (!json_is_array(v) || json_array_size(v) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return false;
    }
    return true;
}

static void check_vec(struct roomerr *w, const json_t *v, const struct roomschema_vector *d,
                      bool stored)
{
    if (!v) {
        if (stored && d->required)
            roomerr_fail(w, d->name, "required: an array of %zu numbers", d->n);
        return;
    }
    if (!vec_ok(v, d->n))
        roomerr_fail(w, d->name, "must be an array of exactly %zu finite numbers", d->n);
}

/* A declaration's members, read in one pass over its (few) keys. */
static void decl_members(json_t *decl, json_t **tier, json_t **durable)
{
    const char *k;
    json_t *v;
    *tier = *durable = NULL;
    json_object_foreach(decl, k, v)
    {
        if (strcmp(k, ROOMSCHEMA_DECL_TIER) == 0)
            *tier = v;
        else if (strcmp(k, ROOMSCHEMA_DECL_DURABLE) == 0)
            *durable = v;
    }
}

/* The durability of a (valid) declaration. */
static bool decl_is_durable(json_t *decl)
{
    json_t *tier, *dur;
    decl_members(decl, &tier, &dur);
    int t = json_is_string(tier)
                ? roomschema_tier_of(json_string_value(tier), json_string_length(tier))
                : 0;
    int flag = json_is_boolean(dur) ? json_is_true(dur) : -1;
    return roomdoc_is_durable(t < 0 ? ROOMDOC_HIGH_RATE_UNRELIABLE : (enum roomdoc_tier)t, flag);
}

static void check_decl(struct roomerr *w, json_t *decl)
{
    json_t *tier = NULL, *dur = NULL;
    char q[QUOTE_BYTES];
    if (json_is_object(decl))
        decl_members(decl, &tier, &dur);
    if (!json_is_object(decl))
        roomerr_fail(w, NULL, "a property declaration must be an object with \"tier\"");
    else if (!tier)
        roomerr_fail(w, ROOMSCHEMA_DECL_TIER, "required: " ROOMSCHEMA_TIER_LIST);
    else if (!json_is_string(tier))
        roomerr_fail(w, ROOMSCHEMA_DECL_TIER, "must be a string, not %s", roomerr_type_name(tier));
    else if (roomdoc_tier_parse(json_string_value(tier)) < 0)
        roomerr_fail(w, ROOMSCHEMA_DECL_TIER, "unknown tier '%s': expected " ROOMSCHEMA_TIER_LIST,
                     roomerr_quote(json_string_value(tier), q));
    if (dur && !json_is_boolean(dur))
        roomerr_fail(w, ROOMSCHEMA_DECL_DURABLE, "must be a boolean, not %s",
                     roomerr_type_name(dur));
}

/* Every manifest: properties object; each entry a valid tier, durable boolean if present. */
static void check_manifests(struct roomerr *w, json_t *manifests)
{
    const char *mid;
    json_t *m;
    json_object_foreach(manifests, mid, m)
    {
        roomerr_push(w, mid, 0);
        json_t *props = json_is_object(m) ? json_object_get(m, ROOMSCHEMA_DECLS) : NULL;
        if (!json_is_object(m)) {
            roomerr_fail(w, NULL, "a manifest must be an object with \"properties\"");
        } else if (!props) {
            roomerr_fail(w, ROOMSCHEMA_DECLS, "required: an object of property name to {\"tier\"}");
        } else if (!json_is_object(props)) {
            roomerr_fail(w, ROOMSCHEMA_DECLS, "must be an object, not %s",
                         roomerr_type_name(props));
        } else {
            roomerr_push(w, ROOMSCHEMA_DECLS, 0);
            const char *pname;
            json_t *decl;
            json_object_foreach(props, pname, decl)
            {
                roomerr_push(w, pname, 0);
                check_decl(w, decl);
                roomerr_pop(w);
            }
            roomerr_pop(w);
        }
        roomerr_pop(w);
    }
}

/* The filter's state across objects. */
struct pass {
    struct roomerr w;
    size_t max_depth;
    json_t *manifests; /* NULL when invalid */
    struct idset ids;
    struct idset used; /* manifests of stored objects */
    json_t *kept;      /* stored objects; NULL once an error is found */
    bool in_place;     /* stored objects are the body's own, changed in place */
    struct roomdoc_stats st;
    /* the description's stored values, parsed once per call when first needed */
    json_t *values[ROOMSCHEMA_FIELDS];
    json_t *vec_values[ROOMSCHEMA_VECTORS_N];
};

/* One object's members, as found by check_object. */
struct found {
    json_t *f[ROOMSCHEMA_FIELDS];
    json_t *vec[ROOMSCHEMA_VECTORS_N]; /* the transform's vectors */
    unsigned present;                  /* bit i: it has roomschema_vectors[i] */
    json_t *manifest, *decls;          /* of a stored object */
    size_t nd;                         /* its non-durable properties */
};

/* A new reference to the JSON value of text (a stored value of the description): parsed
 * once per call; a scalar is shared, an array or object copied (each stored object owns
 * its containers). */
static json_t *value_of(json_t **slot, const char *text)
{
    if (!*slot)
        *slot = json_loads(text, JSON_DECODE_ANY, NULL);
    if (json_is_array(*slot) || json_is_object(*slot))
        return json_deep_copy(*slot);
    return json_incref(*slot);
}

static int set_nocheck(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new_nocheck(o, k, v) : -1;
}

/* Whether the stored form of member (of store action ROOMSCHEMA_STORE_VECTORS / DURABLE) differs
 * from the member as sent. */
static bool member_changes(const struct found *x, enum roomschema_store store, const json_t *v)
{
    if (store == ROOMSCHEMA_STORE_DURABLE)
        return x->nd > 0;
    return store == ROOMSCHEMA_STORE_VECTORS &&
           !roomschema_vectors_as_sent(json_object_size(v), x->present);
}

/* The stored form of a valid object of a stored mode, made of the object itself: members
 * the description drops are deleted, those it sets are set. */
static json_t *stored_in_place(struct pass *p, json_t *o, const struct found *x)
{
    const char *k;
    json_t *v, *m;
    void *tmp;
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        enum roomschema_store store = roomschema_members[f].store;
        if (!(m = x->f[f]) || !member_changes(x, store, m))
            continue;
        if (store == ROOMSCHEMA_STORE_DURABLE) {
            json_object_foreach_safe(m, tmp, k, v)
            {
                if (!decl_is_durable(json_object_get(x->decls, k)))
                    json_object_del(m, k);
            }
            continue;
        }
        json_object_foreach_safe(m, tmp, k, v)
        {
            if (roomschema_vector_of(k, strlen(k)) < 0)
                json_object_del(m, k);
        }
        for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++)
            if (!x->vec[i] && roomschema_vectors[i].value &&
                set_nocheck(m, roomschema_vectors[i].name,
                            value_of(&p->vec_values[i], roomschema_vectors[i].value)))
                return NULL;
    }
    for (int i = 0; i < ROOMSCHEMA_ADDED; i++) {
        enum roomschema_field f = roomschema_added[i];
        const struct roomschema_member *d = &roomschema_members[f];
        if ((d->store == ROOMSCHEMA_STORE_SET || !x->f[f]) &&
            set_nocheck(o, d->name, value_of(&p->values[f], d->value)))
            return NULL;
    }
    return json_incref(o);
}

/* The same, made of shallow copies of what changes: the object, and its members that lose
 * or gain members; the body is not modified. */
static json_t *stored_copy(struct pass *p, json_t *o, const struct found *x)
{
    json_t *c = json_copy(o), *so = NULL;
    struct found g = *x;
    if (!c)
        return NULL;
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++)
        if (x->f[f] && member_changes(x, roomschema_members[f].store, x->f[f]) &&
            set_nocheck(c, roomschema_members[f].name, g.f[f] = json_copy(x->f[f])))
            goto out;
    so = stored_in_place(p, c, &g);
out:
    json_decref(c);
    return so;
}

static void stop_building(struct pass *p)
{
    json_decref(p->kept);
    p->kept = NULL;
}

/* Whether v has the JSON type of kind (a count: a non-negative integer). */
static bool type_ok(enum roomschema_kind kind, const json_t *v)
{
    switch (kind) {
    case ROOMSCHEMA_KIND_ID:
    case ROOMSCHEMA_KIND_MODE:
    case ROOMSCHEMA_KIND_MANIFEST:
        return json_is_string(v);
    case ROOMSCHEMA_KIND_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case ROOMSCHEMA_KIND_STRING_OR_NULL:
        return json_is_string(v) || json_is_null(v);
    case ROOMSCHEMA_KIND_BOOLEAN:
        return json_is_boolean(v);
    case ROOMSCHEMA_KIND_TRANSFORM:
    case ROOMSCHEMA_KIND_PROPERTIES:
        return json_is_object(v);
    }
    return false;
}

static void check_transform(struct roomerr *w, json_t *tr, struct found *x, bool stored)
{
    for (void *it = json_object_iter(tr); it; it = json_object_iter_next(tr, it)) {
        int i = roomschema_vector_of(json_object_iter_key(it), json_object_iter_key_len(it));
        if (i >= 0) {
            x->present |= 1u << i;
            x->vec[i] = json_object_iter_value(it);
        }
    }
    roomerr_push(w, roomschema_members[ROOMSCHEMA_TRANSFORM].name, 0);
    for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++)
        check_vec(w, x->vec[i], &roomschema_vectors[i], stored);
    roomerr_pop(w);
}

/* The properties: declared by the manifest (of a stored object), not too deep; counts the
 * non-durable ones of an object that is being built. */
static void check_properties(struct pass *p, json_t *props, struct found *x, bool build)
{
    struct roomerr *w = &p->w;
    char q[QUOTE_BYTES], q2[QUOTE_BYTES];
    const char *k;
    json_t *v;
    roomerr_push(w, roomschema_members[ROOMSCHEMA_PROPERTIES].name, 0);
    json_object_foreach(props, k, v)
    {
        json_t *decl = x->decls ? json_object_get(x->decls, k) : NULL;
        if (x->decls && !decl)
            roomerr_fail(w, k, "property '%s' is not declared by manifest '%s'",
                         roomerr_quote(k, q),
                         roomerr_quote(json_string_value(x->f[ROOMSCHEMA_MANIFEST_ID]), q2));
        if (value_depth(v, p->max_depth) > p->max_depth)
            roomerr_fail(w, k, "value nested deeper than the limit of %zu", p->max_depth);
        if (build && decl && !decl_is_durable(decl))
            x->nd++;
    }
    roomerr_pop(w);
}

/* One member of an object, of a valid JSON type: the rest of its kind's rule. */
static void check_member(struct pass *p, enum roomschema_field f, json_t *v, size_t index,
                         int *mode, struct found *x)
{
    struct roomerr *w = &p->w;
    const char *name = roomschema_members[f].name;
    char q[QUOTE_BYTES];
    size_t first = 0, n = json_string_length(v);
    bool stored = *mode >= 0 && roomschema_modes[*mode].stored;
    switch (roomschema_members[f].kind) {
    case ROOMSCHEMA_KIND_ID:
        if (n == 0 || n > ROOMSCHEMA_OBJECT_ID_MAX_BYTES)
            roomerr_fail(w, name, "must be 1 to %d bytes long (got %zu)",
                         ROOMSCHEMA_OBJECT_ID_MAX_BYTES, n);
        else if (!idset_add(&p->ids, v, index, &first))
            roomerr_fail(w, name, "duplicate object_id '%s' (first used by objects[%zu])",
                         roomerr_quote(json_string_value(v), q), first);
        break;
    case ROOMSCHEMA_KIND_MODE:
        if ((*mode = roomschema_mode_of(json_string_value(v), n)) < 0)
            roomerr_fail(w, name, "unknown persist_mode '%s': expected " ROOMSCHEMA_MODE_LIST,
                         roomerr_quote(json_string_value(v), q));
        break;
    case ROOMSCHEMA_KIND_MANIFEST:
        if (stored && p->manifests &&
            !(x->manifest = json_object_get(p->manifests, json_string_value(v))))
            roomerr_fail(w, name, "unknown manifest '%s'", roomerr_quote(json_string_value(v), q));
        /* undeclared properties are looked for only when the manifest itself is usable */
        x->decls =
            json_is_object(x->manifest) ? json_object_get(x->manifest, ROOMSCHEMA_DECLS) : NULL;
        if (!json_is_object(x->decls))
            x->decls = NULL;
        break;
    case ROOMSCHEMA_KIND_TRANSFORM:
        check_transform(w, v, x, stored);
        break;
    case ROOMSCHEMA_KIND_PROPERTIES:
        /* a stored object is built while the document is valid so far */
        check_properties(p, v, x, stored && p->kept && w->errors->total == 0);
        break;
    default:
        break;
    }
}

/* Checks one object and, while the document is still valid, appends its stored form. */
static void check_object(struct pass *p, json_t *o, size_t index)
{
    struct roomerr *w = &p->w;
    size_t errors_before = w->errors->total;
    if (!json_is_object(o)) {
        roomerr_fail(w, NULL, "an object must be a JSON object, not %s", roomerr_type_name(o));
        stop_building(p);
        return;
    }
    struct found x = {0};
    json_t *v;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
        x.f[roomschema_field_of(json_object_iter_key(it), json_object_iter_key_len(it))] =
            json_object_iter_value(it);

    int mode = -1;
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        const struct roomschema_member *d = &roomschema_members[f];
        bool stored = mode >= 0 && roomschema_modes[mode].stored;
        if (!(v = x.f[f])) {
            if (d->need == ROOMSCHEMA_REQUIRED || (d->need == ROOMSCHEMA_REQUIRED_STORED && stored))
                roomerr_fail(w, d->name, "%s", d->required);
        } else if (!type_ok(d->kind, v)) {
            if (d->kind == ROOMSCHEMA_KIND_COUNT) /* -1 is an integer, yet not a count */
                roomerr_fail(w, d->name, "must be %s", d->what);
            else
                roomerr_fail(w, d->name, "must be %s, not %s", d->what, roomerr_type_name(v));
        } else {
            check_member(p, (enum roomschema_field)f, v, index, &mode, &x);
        }
    }

    if (w->errors->total != errors_before) {
        stop_building(p);
        return;
    }
    if (!roomschema_modes[mode].stored) {
        roomschema_count_dropped(&p->st, mode);
        return;
    }
    if (!p->kept)
        return;
    p->st.non_durable_properties += x.nd;
    json_t *so = p->in_place ? stored_in_place(p, o, &x) : stored_copy(p, o, &x);
    if (!so || json_array_append_new(p->kept, so)) {
        stop_building(p);
        p->st.objects_saved = SIZE_MAX; /* marks an allocation failure */
        return;
    }
    ptrset_find(&p->used, x.manifest, true);
    p->st.objects_saved++;
}

/* The stored document from the kept objects and the manifests they use. */
static json_t *assemble(struct pass *p)
{
    json_t *ms = json_object();
    const char *mid;
    json_t *m;
    if (!ms)
        return NULL;
    json_object_foreach(p->manifests, mid, m)
    {
        /* in the order the manifests were sent */
        if (ptrset_find(&p->used, m, false) &&
            json_object_set_new_nocheck(ms, mid, json_incref(m))) {
            json_decref(ms);
            return NULL;
        }
    }
    json_t *doc = json_object();
    if (!doc || set_nocheck(doc, ROOMSCHEMA_MANIFESTS, ms) ||
        set_nocheck(doc, ROOMSCHEMA_OBJECTS, json_incref(p->kept))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static enum roomdoc_result filter(json_t *body, const struct roomdoc_limits *limits,
                                  json_t **stored, struct roomdoc_stats *stats,
                                  struct roomdoc_errors *errors, bool in_place)
{
    enum roomdoc_result rc = ROOMDOC_INVALID;
    struct roomdoc_errors scratch;
    struct pass p = {.w.errors = errors ? errors : &scratch, .in_place = in_place};
    struct roomerr *w = &p.w;
    struct roomdoc_limits lim = roomschema_limits(limits);
    size_t max_objects = lim.max_objects;
    p.max_depth = lim.max_value_depth;
    w->errors->count = w->errors->total = 0;
    *stored = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);

    if (!json_is_object(body)) {
        roomerr_fail(w, NULL, "the room document must be a JSON object, not %s",
                     body ? roomerr_type_name(body) : "nothing");
        goto out;
    }
    json_t *manifests = json_object_get(body, ROOMSCHEMA_MANIFESTS);
    json_t *objects = json_object_get(body, ROOMSCHEMA_OBJECTS);
    if (!manifests) {
        roomerr_fail(w, ROOMSCHEMA_MANIFESTS, "required: an object of manifest id to manifest");
    } else if (!json_is_object(manifests)) {
        roomerr_fail(w, ROOMSCHEMA_MANIFESTS, "must be an object, not %s",
                     roomerr_type_name(manifests));
    } else {
        roomerr_push(w, ROOMSCHEMA_MANIFESTS, 0);
        check_manifests(w, manifests);
        roomerr_pop(w);
        p.manifests = manifests;
    }
    if (!objects) {
        roomerr_fail(w, ROOMSCHEMA_OBJECTS, "required: an array of objects");
        goto out;
    }
    if (!json_is_array(objects)) {
        roomerr_fail(w, ROOMSCHEMA_OBJECTS, "must be an array, not %s", roomerr_type_name(objects));
        goto out;
    }
    size_t n = json_array_size(objects);
    if (n > max_objects) {
        roomerr_fail(w, ROOMSCHEMA_OBJECTS, "too many objects: %zu (the limit is %zu)", n,
                     max_objects);
        goto out;
    }
    p.kept = w->errors->total == 0 ? json_array() : NULL;
    if (!idset_init(&p.ids, n, true) ||
        !idset_init(&p.used, p.manifests ? json_object_size(p.manifests) : 0, false) ||
        (w->errors->total == 0 && !p.kept)) {
        rc = ROOMDOC_NOMEM;
        goto out;
    }
    roomerr_push(w, ROOMSCHEMA_OBJECTS, 0);
    for (size_t i = 0; i < n; i++) {
        roomerr_push(w, NULL, i);
        check_object(&p, json_array_get(objects, i), i);
        roomerr_pop(w);
    }
    roomerr_pop(w);
    if (w->errors->total == 0) {
        rc = ROOMDOC_NOMEM;
        if (!p.kept || p.st.objects_saved == SIZE_MAX || !(*stored = assemble(&p)))
            goto out;
        rc = ROOMDOC_OK;
    }

out:
    json_decref(p.kept);
    idset_clear(&p.ids);
    idset_clear(&p.used);
    for (int i = 0; i < ROOMSCHEMA_FIELDS; i++)
        json_decref(p.values[i]);
    for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++)
        json_decref(p.vec_values[i]);
    if (rc == ROOMDOC_OK && stats)
        *stats = p.st;
    return rc;
}

enum roomdoc_result roomdoc_filter(json_t *body, const struct roomdoc_limits *limits,
                                   json_t **stored, struct roomdoc_stats *stats,
                                   struct roomdoc_errors *errors)
{
    return filter(body, limits, stored, stats, errors, false);
}

enum roomdoc_result roomdoc_filter_in_place(json_t *body, const struct roomdoc_limits *limits,
                                            json_t **stored, struct roomdoc_stats *stats,
                                            struct roomdoc_errors *errors)
{
    return filter(body, limits, stored, stats, errors, true);
}
