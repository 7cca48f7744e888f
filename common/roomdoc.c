/* roomdoc.c — the room document rules (docs/http-api.md "The room document", "Validation",
 * "What is stored"): one pass that validates a parsed save body, records every problem with
 * a JSON path, and builds the stored document.
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

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJECT_ID_MAX_BYTES 128
#define QUOTE_MAX_BYTES 64 /* user strings quoted in messages are cut to this */

static const char *const persist_names[] = {"transient_held", "placed_room", "placed_saved"};
static const char *const tier_names[] = {"high_rate_unreliable", "reliable_on_change",
                                         "snapshot_only"};

int roomdoc_persist_parse(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, persist_names[i]) == 0)
            return i;
    return -1;
}

const char *roomdoc_persist_name(enum roomdoc_persist p)
{
    return (unsigned)p < 3 ? persist_names[p] : "unknown";
}

int roomdoc_tier_parse(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, tier_names[i]) == 0)
            return i;
    return -1;
}

const char *roomdoc_tier_name(enum roomdoc_tier t)
{
    return (unsigned)t < 3 ? tier_names[t] : "unknown";
}

bool roomdoc_is_durable(enum roomdoc_tier tier, int durable_flag)
{
    if (durable_flag >= 0)
        return durable_flag != 0;
    return tier == ROOMDOC_RELIABLE_ON_CHANGE || tier == ROOMDOC_SNAPSHOT_ONLY;
}

static bool id_char(unsigned char c, bool first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return !first && (c == '.' || c == '_' || c == ':' || c == '-');
}

bool roomdoc_room_id_valid(const char *id, size_t len)
{
    if (!id || len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char((unsigned char)id[i], i == 0))
            return false;
    return true;
}

/* ---- error recording: the path is a stack of segments, rendered only on error ---- */

#define MAX_SEGS 8

struct seg {
    const char *key; /* NULL: an array index */
    size_t index;
};

/* The walk's state: where we are, the errors, the limits. */
struct walk {
    struct roomdoc_errors *errors;
    size_t max_depth;
    struct seg segs[MAX_SEGS];
    size_t nseg; /* may exceed MAX_SEGS: deeper segments are not rendered */
};

/* Enters member key, or array element index when key is NULL. */
static void push(struct walk *w, const char *key, size_t index)
{
    if (w->nseg < MAX_SEGS)
        w->segs[w->nseg] = (struct seg){.key = key, .index = index};
    w->nseg++;
}

static void pop(struct walk *w)
{
    w->nseg--;
}

/* Cuts a NUL-terminated UTF-8 string back so that it does not end inside a sequence. */
static void utf8_trim_tail(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && n - (i - 1) < need)
        s[i - 1] = '\0';
}

/* A bounded text buffer: appends past the end are dropped. */
struct text {
    char *p;
    size_t cap, len;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    size_t room = t->len + 1 < t->cap ? t->cap - 1 - t->len : 0;
    size_t k = n < room ? n : room;
    memcpy(t->p + t->len, s, k);
    t->len += k;
    t->p[t->len] = '\0';
}

static bool is_ident(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return false;
    for (k++; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
              *k == '_'))
            return false;
    return true;
}

/* .name for identifiers (no dot first), ["any key"] (JSON-escaped) otherwise, [i]. */
static void render_seg(struct text *t, const struct seg *s)
{
    char b[32];
    if (!s->key) {
        int n = snprintf(b, sizeof b, "[%zu]", s->index);
        text_add(t, b, (size_t)n);
    } else if (is_ident(s->key)) {
        if (t->len)
            text_add(t, ".", 1);
        text_add(t, s->key, strlen(s->key));
    } else {
        text_add(t, "[\"", 2);
        for (const char *p = s->key; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\') {
                b[0] = '\\';
                b[1] = (char)c;
                text_add(t, b, 2);
            } else if (c < 0x20) {
                int n = snprintf(b, sizeof b, "\\u%04x", c);
                text_add(t, b, (size_t)n);
            } else {
                text_add(t, p, 1);
            }
        }
        text_add(t, "\"]", 2);
    }
}

/* Records an error at the current path (plus the member suffix, when not NULL). */
__attribute__((format(printf, 3, 4))) static void fail(struct walk *w, const char *suffix,
                                                       const char *fmt, ...)
{
    struct roomdoc_errors *e = w->errors;
    e->total++;
    if (e->count >= ROOMDOC_MAX_ERRORS)
        return;
    struct roomdoc_error *it = &e->items[e->count++];
    struct text t = {.p = it->path, .cap = sizeof it->path};
    it->path[0] = '\0';
    size_t n = w->nseg < MAX_SEGS ? w->nseg : MAX_SEGS;
    for (size_t i = 0; i < n; i++)
        render_seg(&t, &w->segs[i]);
    if (suffix) {
        struct seg s = {.key = suffix};
        render_seg(&t, &s);
    }
    utf8_trim_tail(it->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
    utf8_trim_tail(it->message);
}

/* A user string made safe to quote in a message: cut to QUOTE_MAX_BYTES on a UTF-8
 * boundary, with "..." when cut. */
static const char *quote(const char *s, char out[QUOTE_MAX_BYTES + 4])
{
    size_t n = strlen(s);
    if (n <= QUOTE_MAX_BYTES)
        return s;
    memcpy(out, s, QUOTE_MAX_BYTES);
    out[QUOTE_MAX_BYTES] = '\0';
    utf8_trim_tail(out);
    size_t m = strlen(out);
    memcpy(out + m, "...", 4);
    return out;
}

static const char *type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a number",  [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null"};
    return (unsigned)json_typeof(v) < sizeof names / sizeof *names ? names[json_typeof(v)]
                                                                   : "unknown";
}

/* ---- hash sets: object ids by (string, length), manifests by pointer ---- */

struct idset {
    const json_t **slots; /* json strings, or any json values for a pointer set */
    size_t *index;        /* objects[] index of each slot (id sets only) */
    size_t mask;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

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
    size_t i = (size_t)hash_bytes(k, n) & s->mask;
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

static void check_vec(struct walk *w, json_t *v, const char *name, size_t n, bool required)
{
    if (!v) {
        if (required)
            fail(w, name, "required: an array of %zu numbers", n);
        return;
    }
    if (!vec_ok(v, n))
        fail(w, name, "must be an array of exactly %zu finite numbers", n);
}

/* A declaration's members, read in one pass over its (few) keys. */
static void decl_members(json_t *decl, json_t **tier, json_t **durable)
{
    const char *k;
    json_t *v;
    *tier = *durable = NULL;
    json_object_foreach(decl, k, v)
    {
        if (strcmp(k, "tier") == 0)
            *tier = v;
        else if (strcmp(k, "durable") == 0)
            *durable = v;
    }
}

/* The durability of a (valid) declaration. */
static bool decl_is_durable(json_t *decl)
{
    json_t *tier, *dur;
    decl_members(decl, &tier, &dur);
    int t = json_is_string(tier) ? roomdoc_tier_parse(json_string_value(tier)) : 0;
    int flag = json_is_boolean(dur) ? json_is_true(dur) : -1;
    return roomdoc_is_durable(t < 0 ? ROOMDOC_HIGH_RATE_UNRELIABLE : (enum roomdoc_tier)t, flag);
}

/* Every manifest: properties object; each entry a valid tier, durable boolean if present. */
static void check_manifests(struct walk *w, json_t *manifests)
{
    const char *mid;
    json_t *m;
    json_object_foreach(manifests, mid, m)
    {
        push(w, mid, 0);
        json_t *props = json_is_object(m) ? json_object_get(m, "properties") : NULL;
        if (!json_is_object(m)) {
            fail(w, NULL, "a manifest must be an object with \"properties\"");
        } else if (!props) {
            fail(w, "properties", "required: an object of property name to {\"tier\"}");
        } else if (!json_is_object(props)) {
            fail(w, "properties", "must be an object, not %s", type_name(props));
        } else {
            push(w, "properties", 0);
            const char *pname;
            json_t *decl;
            json_object_foreach(props, pname, decl)
            {
                push(w, pname, 0);
                json_t *tier = NULL, *dur = NULL;
                char q[QUOTE_MAX_BYTES + 4];
                if (json_is_object(decl))
                    decl_members(decl, &tier, &dur);
                if (!json_is_object(decl))
                    fail(w, NULL, "a property declaration must be an object with \"tier\"");
                else if (!tier)
                    fail(w, "tier",
                         "required: high_rate_unreliable, reliable_on_change or snapshot_only");
                else if (!json_is_string(tier))
                    fail(w, "tier", "must be a string, not %s", type_name(tier));
                else if (roomdoc_tier_parse(json_string_value(tier)) < 0)
                    fail(w, "tier",
                         "unknown tier '%s': expected high_rate_unreliable, reliable_on_change "
                         "or snapshot_only",
                         quote(json_string_value(tier), q));
                if (dur && !json_is_boolean(dur))
                    fail(w, "durable", "must be a boolean, not %s", type_name(dur));
                pop(w);
            }
            pop(w);
        }
        pop(w);
    }
}

/* The members of an object the contract knows, found in one pass over its keys. */
/* clang-format off */
enum field { F_OTHER = 0, F_OBJECT_ID, F_PERSIST_MODE, F_SEQ, F_OWNER_ID, F_HELD_BY, F_PLACED,
             F_MANIFEST_ID, F_TRANSFORM, F_PROPERTIES, F_COUNT };

static const char *const field_names[F_COUNT] = {
    [F_OBJECT_ID] = "object_id", [F_PERSIST_MODE] = "persist_mode", [F_SEQ] = "seq",
    [F_OWNER_ID] = "owner_id", [F_HELD_BY] = "held_by", [F_PLACED] = "placed",
    [F_MANIFEST_ID] = "manifest_id", [F_TRANSFORM] = "transform", [F_PROPERTIES] = "properties"};
/* clang-format on */

static enum field field_of(const char *k)
{
    for (int f = F_OBJECT_ID; f < F_COUNT; f++)
        if (k[0] == field_names[f][0] && strcmp(k, field_names[f]) == 0)
            return (enum field)f;
    return F_OTHER;
}

/* The filter's state across objects. */
struct pass {
    struct walk w;
    json_t *manifests; /* NULL when invalid */
    struct idset ids;
    struct idset used; /* manifests of stored objects */
    json_t *kept;      /* stored objects; NULL once an error is found */
    bool in_place;     /* stored objects are the body's own, changed in place */
    struct roomdoc_stats st;
};

static int set_nocheck(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new_nocheck(o, k, v) : -1;
}

/* The stored form of a valid placed_saved object made of the object itself: members the
 * contract drops are deleted, those it sets are set.  nd: its non-durable properties. */
static json_t *stored_in_place(json_t *o, json_t *f[F_COUNT], json_t *scale, json_t *decls,
                               size_t nd)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_t *props = f[F_PROPERTIES], *tr = f[F_TRANSFORM];
    if (nd)
        json_object_foreach_safe(props, tmp, k, v)
        {
            if (!decl_is_durable(json_object_get(decls, k)))
                json_object_del(props, k);
        }
    if (json_object_size(tr) != (scale ? 3u : 2u))
        json_object_foreach_safe(tr, tmp, k, v)
        {
            if (strcmp(k, "position") != 0 && strcmp(k, "rotation") != 0 && strcmp(k, "scale") != 0)
                json_object_del(tr, k);
        }
    if (!scale) {
        json_t *one = json_array();
        for (int i = 0; one && i < 3; i++)
            if (json_array_append_new(one, json_integer(1))) {
                json_decref(one);
                one = NULL;
            }
        if (set_nocheck(tr, "scale", one))
            return NULL;
    }
    if (set_nocheck(o, "owner_id", json_null()) || set_nocheck(o, "held_by", json_null()) ||
        set_nocheck(o, "placed", json_true()) ||
        (!f[F_SEQ] && set_nocheck(o, "seq", json_integer(0))) ||
        (!props && set_nocheck(o, "properties", json_object())))
        return NULL;
    return json_incref(o);
}

/* The same, made of shallow copies of what changes: the object, and its transform and
 * properties when they lose members; the body is not modified. */
static json_t *stored_copy(json_t *o, json_t *f[F_COUNT], json_t *scale, json_t *decls, size_t nd)
{
    json_t *c = json_copy(o), *g[F_COUNT], *so = NULL;
    memcpy(g, f, sizeof g);
    if (!c)
        return NULL;
    if (json_object_size(f[F_TRANSFORM]) != 3 || !scale)
        if (set_nocheck(c, "transform", g[F_TRANSFORM] = json_copy(f[F_TRANSFORM])))
            goto out;
    if (nd && set_nocheck(c, "properties", g[F_PROPERTIES] = json_copy(f[F_PROPERTIES])))
        goto out;
    so = stored_in_place(c, g, scale, decls, nd);
out:
    json_decref(c);
    return so;
}

static void stop_building(struct pass *p)
{
    json_decref(p->kept);
    p->kept = NULL;
}

/* Checks one object and, while the document is still valid, appends its stored form. */
static void check_object(struct pass *p, json_t *o, size_t index)
{
    struct walk *w = &p->w;
    char q[QUOTE_MAX_BYTES + 4], q2[QUOTE_MAX_BYTES + 4];
    size_t errors_before = w->errors->total;
    if (!json_is_object(o)) {
        fail(w, NULL, "an object must be a JSON object, not %s", type_name(o));
        stop_building(p);
        return;
    }
    json_t *f[F_COUNT] = {0};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) f[field_of(k)] = v;

    json_t *id = f[F_OBJECT_ID];
    if (!id) {
        fail(w, "object_id", "required: a string of 1 to 128 bytes");
    } else if (!json_is_string(id)) {
        fail(w, "object_id", "must be a string, not %s", type_name(id));
    } else if (json_string_length(id) == 0 || json_string_length(id) > OBJECT_ID_MAX_BYTES) {
        fail(w, "object_id", "must be 1 to 128 bytes long (got %zu)", json_string_length(id));
    } else {
        size_t first = 0;
        if (!idset_add(&p->ids, id, index, &first))
            fail(w, "object_id", "duplicate object_id '%s' (first used by objects[%zu])",
                 quote(json_string_value(id), q), first);
    }

    int mode = -1;
    json_t *pm = f[F_PERSIST_MODE];
    if (!pm)
        fail(w, "persist_mode", "required: transient_held, placed_room or placed_saved");
    else if (!json_is_string(pm))
        fail(w, "persist_mode", "must be a string, not %s", type_name(pm));
    else if ((mode = roomdoc_persist_parse(json_string_value(pm))) < 0)
        fail(w, "persist_mode",
             "unknown persist_mode '%s': expected transient_held, placed_room or placed_saved",
             quote(json_string_value(pm), q));

    if (f[F_SEQ] && (!json_is_integer(f[F_SEQ]) || json_integer_value(f[F_SEQ]) < 0))
        fail(w, "seq", "must be a non-negative integer");
    if (f[F_OWNER_ID] && !json_is_string(f[F_OWNER_ID]) && !json_is_null(f[F_OWNER_ID]))
        fail(w, "owner_id", "must be a string or null, not %s", type_name(f[F_OWNER_ID]));
    if (f[F_HELD_BY] && !json_is_string(f[F_HELD_BY]) && !json_is_null(f[F_HELD_BY]))
        fail(w, "held_by", "must be a string or null, not %s", type_name(f[F_HELD_BY]));
    if (f[F_PLACED] && !json_is_boolean(f[F_PLACED]))
        fail(w, "placed", "must be a boolean, not %s", type_name(f[F_PLACED]));

    bool saved = mode == ROOMDOC_PLACED_SAVED;
    json_t *mid = f[F_MANIFEST_ID];
    json_t *m = NULL;
    if (!mid) {
        if (saved)
            fail(w, "manifest_id", "required for a placed_saved object: a manifest's id");
    } else if (!json_is_string(mid)) {
        fail(w, "manifest_id", "must be a string, not %s", type_name(mid));
    } else if (saved && p->manifests &&
               !(m = json_object_get(p->manifests, json_string_value(mid)))) {
        fail(w, "manifest_id", "unknown manifest '%s'", quote(json_string_value(mid), q));
    }
    /* undeclared properties are looked for only when the manifest itself is usable */
    json_t *decls = json_is_object(m) ? json_object_get(m, "properties") : NULL;
    if (!json_is_object(decls))
        decls = NULL;

    json_t *tr = f[F_TRANSFORM], *pos = NULL, *rot = NULL, *scale = NULL;
    if (!tr) {
        if (saved)
            fail(w, "transform", "required for a placed_saved object: position and rotation");
    } else if (!json_is_object(tr)) {
        fail(w, "transform", "must be an object, not %s", type_name(tr));
    } else {
        json_object_foreach(tr, k, v)
        {
            if (strcmp(k, "position") == 0)
                pos = v;
            else if (strcmp(k, "rotation") == 0)
                rot = v;
            else if (strcmp(k, "scale") == 0)
                scale = v;
        }
        push(w, "transform", 0);
        check_vec(w, pos, "position", 3, saved);
        check_vec(w, rot, "rotation", 4, saved);
        check_vec(w, scale, "scale", 3, false);
        pop(w);
    }

    /* a stored object is built while the document is valid so far */
    bool build = saved && p->kept && w->errors->total == 0;
    size_t nd = 0; /* non-durable properties of this object */
    json_t *props = f[F_PROPERTIES];
    if (props && !json_is_object(props)) {
        fail(w, "properties", "must be an object, not %s", type_name(props));
    } else if (props) {
        push(w, "properties", 0);
        json_object_foreach(props, k, v)
        {
            json_t *decl = decls ? json_object_get(decls, k) : NULL;
            if (decls && !decl)
                fail(w, k, "property '%s' is not declared by manifest '%s'", quote(k, q),
                     quote(json_string_value(mid), q2));
            if (value_depth(v, w->max_depth) > w->max_depth)
                fail(w, k, "value nested deeper than the limit of %zu", w->max_depth);
            if (!build || !decl)
                continue;
            if (!decl_is_durable(decl))
                nd++;
        }
        pop(w);
    }

    if (w->errors->total != errors_before) {
        stop_building(p);
        return;
    }
    if (mode == ROOMDOC_TRANSIENT_HELD)
        p->st.dropped_transient_held++;
    else if (mode == ROOMDOC_PLACED_ROOM)
        p->st.dropped_placed_room++;
    if (!saved || !p->kept)
        return;
    p->st.non_durable_properties += nd;
    json_t *so =
        p->in_place ? stored_in_place(o, f, scale, decls, nd) : stored_copy(o, f, scale, decls, nd);
    if (!so || json_array_append_new(p->kept, so)) {
        stop_building(p);
        p->st.objects_saved = SIZE_MAX; /* marks an allocation failure */
        return;
    }
    ptrset_find(&p->used, m, true);
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
    if (!doc || set_nocheck(doc, "manifests", ms) ||
        set_nocheck(doc, "objects", json_incref(p->kept))) {
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
    struct walk *w = &p.w;
    size_t max_objects = limits && limits->max_objects ? limits->max_objects : 10000;
    w->max_depth = limits && limits->max_value_depth ? limits->max_value_depth : 32;
    w->errors->count = w->errors->total = 0;
    *stored = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);

    if (!json_is_object(body)) {
        fail(w, NULL, "the room document must be a JSON object, not %s",
             body ? type_name(body) : "nothing");
        goto out;
    }
    json_t *manifests = json_object_get(body, "manifests");
    json_t *objects = json_object_get(body, "objects");
    if (!manifests) {
        fail(w, "manifests", "required: an object of manifest id to manifest");
    } else if (!json_is_object(manifests)) {
        fail(w, "manifests", "must be an object, not %s", type_name(manifests));
    } else {
        push(w, "manifests", 0);
        check_manifests(w, manifests);
        pop(w);
        p.manifests = manifests;
    }
    if (!objects) {
        fail(w, "objects", "required: an array of objects");
        goto out;
    }
    if (!json_is_array(objects)) {
        fail(w, "objects", "must be an array, not %s", type_name(objects));
        goto out;
    }
    size_t n = json_array_size(objects);
    if (n > max_objects) {
        fail(w, "objects", "too many objects: %zu (the limit is %zu)", n, max_objects);
        goto out;
    }
    p.kept = w->errors->total == 0 ? json_array() : NULL;
    if (!idset_init(&p.ids, n, true) ||
        !idset_init(&p.used, p.manifests ? json_object_size(p.manifests) : 0, false) ||
        (w->errors->total == 0 && !p.kept)) {
        rc = ROOMDOC_NOMEM;
        goto out;
    }
    push(w, "objects", 0);
    for (size_t i = 0; i < n; i++) {
        push(w, NULL, i);
        check_object(&p, json_array_get(objects, i), i);
        pop(w);
    }
    pop(w);
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
