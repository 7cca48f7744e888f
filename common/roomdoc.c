/* roomdoc.c — the room document rules (roomstate-api.md "The room document", "Validation",
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

/* ---- error recording ---- */

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

/* The walk's state: the path being built, the errors, the limits. */
struct walk {
    struct roomdoc_errors *errors;
    size_t max_depth;
    char path[sizeof(((struct roomdoc_error *)0)->path)];
    size_t plen; /* may exceed sizeof path - 1 when cut; the text is then truncated */
};

static void path_truncate(struct walk *w, size_t len)
{
    w->plen = len;
    if (len < sizeof w->path)
        w->path[len] = '\0';
}

/* Appends text to the path (silently cut at the buffer's end). */
static void path_add(struct walk *w, const char *text, size_t n)
{
    size_t room = w->plen < sizeof w->path ? sizeof w->path - 1 - w->plen : 0;
    size_t k = n < room ? n : room;
    if (k)
        memcpy(w->path + w->plen, text, k);
    w->plen += n;
    if (w->plen - n + k < sizeof w->path)
        w->path[w->plen - n + k] = '\0';
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

/* .name for identifiers, ["any key"] (JSON-escaped) otherwise. */
static void path_key(struct walk *w, const char *key)
{
    if (is_ident(key)) {
        path_add(w, ".", 1);
        path_add(w, key, strlen(key));
        return;
    }
    path_add(w, "[\"", 2);
    for (const char *p = key; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            path_add(w, esc, 2);
        } else if (c < 0x20) {
            int n = snprintf(esc, sizeof esc, "\\u%04x", c);
            path_add(w, esc, (size_t)n);
        } else {
            path_add(w, (const char *)p, 1);
        }
    }
    path_add(w, "\"]", 2);
}

static void path_index(struct walk *w, size_t i)
{
    char b[32];
    int n = snprintf(b, sizeof b, "[%zu]", i);
    path_add(w, b, (size_t)n);
}

__attribute__((format(printf, 3, 4))) static void fail(struct walk *w, const char *suffix,
                                                       const char *fmt, ...)
{
    struct roomdoc_errors *e = w->errors;
    e->total++;
    if (e->count >= ROOMDOC_MAX_ERRORS)
        return;
    struct roomdoc_error *it = &e->items[e->count++];
    size_t save = w->plen;
    if (suffix)
        path_key(w, suffix);
    /* the root itself has an empty path */
    snprintf(it->path, sizeof it->path, "%s", w->path[0] == '.' ? w->path + 1 : w->path);
    path_truncate(w, save);
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
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* ---- object_id uniqueness: open addressing over (string, length) ---- */

struct idset {
    const json_t **slots; /* json strings */
    size_t *index;        /* objects[] index of each slot */
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

static bool idset_init(struct idset *s, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->index = calloc(cap, sizeof *s->index);
    s->mask = cap - 1;
    return s->slots && s->index;
}

static void idset_clear(struct idset *s)
{
    free(s->slots);
    free(s->index);
}

/* Inserts id; returns true when new, false (and *first) when already there. */
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

/* ---- checks ---- */

/* Depth of a JSON value, stopping once it exceeds limit. */
static size_t value_depth(const json_t *v, size_t limit)
{
    size_t best = 0;
    if (json_is_array(v)) {
        if (limit == 0)
            return 1;
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            size_t d = value_depth(x, limit - 1);
            if (d > best)
                best = d;
            if (best >= limit)
                break;
        }
        return best + 1;
    }
    if (json_is_object(v)) {
        if (limit == 0)
            return 1;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            size_t d = value_depth(x, limit - 1);
            if (d > best)
                best = d;
            if (best >= limit)
                break;
        }
        return best + 1;
    }
    return 0;
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

static void check_vec(struct walk *w, json_t *tr, const char *name, size_t n, bool required)
{
    json_t *v = json_object_get(tr, name);
    if (!v) {
        if (required)
            fail(w, name, "required: an array of %zu numbers", n);
        return;
    }
    if (!vec_ok(v, n))
        fail(w, name, "must be an array of exactly %zu finite numbers", n);
}

/* Every manifest: properties object; each entry a valid tier, durable boolean if present. */
static void check_manifests(struct walk *w, json_t *manifests)
{
    const char *mid;
    json_t *m;
    json_object_foreach(manifests, mid, m)
    {
        size_t at = w->plen;
        path_key(w, mid);
        json_t *props = json_is_object(m) ? json_object_get(m, "properties") : NULL;
        if (!json_is_object(m)) {
            fail(w, NULL, "a manifest must be an object with \"properties\"");
        } else if (!props) {
            fail(w, "properties", "required: an object of property name to {\"tier\"}");
        } else if (!json_is_object(props)) {
            fail(w, "properties", "must be an object, not %s", type_name(props));
        } else {
            path_key(w, "properties");
            size_t at2 = w->plen;
            const char *pname;
            json_t *decl;
            json_object_foreach(props, pname, decl)
            {
                path_key(w, pname);
                json_t *tier = json_is_object(decl) ? json_object_get(decl, "tier") : NULL;
                json_t *dur = json_is_object(decl) ? json_object_get(decl, "durable") : NULL;
                char q[QUOTE_MAX_BYTES + 4];
                if (!json_is_object(decl))
                    fail(w, NULL, "a property declaration must be an object with \"tier\"");
                else if (!tier)
                    fail(w, "tier",
                         "required: high_rate_unreliable, reliable_on_change or snapshot_only");
                else if (!json_is_string(tier) || roomdoc_tier_parse(json_string_value(tier)) < 0)
                    fail(w, "tier",
                         "unknown tier %s%s%s: expected high_rate_unreliable, "
                         "reliable_on_change or snapshot_only",
                         json_is_string(tier) ? "'" : "",
                         json_is_string(tier) ? quote(json_string_value(tier), q) : type_name(tier),
                         json_is_string(tier) ? "'" : "");
                if (dur && !json_is_boolean(dur))
                    fail(w, "durable", "must be a boolean, not %s", type_name(dur));
                path_truncate(w, at2);
            }
        }
        path_truncate(w, at);
    }
}

/* The declaration of property pname in manifest m (already known to be valid or not). */
static json_t *declaration(json_t *m, const char *pname)
{
    json_t *props = json_is_object(m) ? json_object_get(m, "properties") : NULL;
    return json_is_object(props) ? json_object_get(props, pname) : NULL;
}

static bool decl_durable(json_t *decl)
{
    json_t *tier = json_object_get(decl, "tier");
    json_t *dur = json_object_get(decl, "durable");
    int t = json_is_string(tier) ? roomdoc_tier_parse(json_string_value(tier)) : -1;
    int flag = json_is_boolean(dur) ? json_is_true(dur) : -1;
    return roomdoc_is_durable(t < 0 ? ROOMDOC_HIGH_RATE_UNRELIABLE : (enum roomdoc_tier)t, flag);
}

/* Checks one object; returns its persist mode or -1 when that is itself invalid. */
static int check_object(struct walk *w, json_t *o, json_t *manifests, struct idset *ids,
                        size_t index)
{
    char q[QUOTE_MAX_BYTES + 4];
    if (!json_is_object(o)) {
        fail(w, NULL, "an object must be a JSON object, not %s", type_name(o));
        return -1;
    }
    json_t *id = json_object_get(o, "object_id");
    if (!id) {
        fail(w, "object_id", "required: a string of 1 to 128 bytes");
    } else if (!json_is_string(id)) {
        fail(w, "object_id", "must be a string, not %s", type_name(id));
    } else if (json_string_length(id) == 0 || json_string_length(id) > OBJECT_ID_MAX_BYTES) {
        fail(w, "object_id", "must be 1 to 128 bytes long (got %zu)", json_string_length(id));
    } else {
        size_t first = 0;
        if (!idset_add(ids, id, index, &first))
            fail(w, "object_id", "duplicate object_id '%s' (first used by objects[%zu])",
                 quote(json_string_value(id), q), first);
    }

    int mode = -1;
    json_t *pm = json_object_get(o, "persist_mode");
    if (!pm)
        fail(w, "persist_mode", "required: transient_held, placed_room or placed_saved");
    else if (!json_is_string(pm) || (mode = roomdoc_persist_parse(json_string_value(pm))) < 0)
        fail(w, "persist_mode",
             "unknown persist_mode %s%s%s: expected transient_held, placed_room or placed_saved",
             json_is_string(pm) ? "'" : "",
             json_is_string(pm) ? quote(json_string_value(pm), q) : type_name(pm),
             json_is_string(pm) ? "'" : "");

    json_t *v = json_object_get(o, "seq");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
        fail(w, "seq", "must be a non-negative integer");
    static const char *const who[] = {"owner_id", "held_by"};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(o, who[i]);
        if (v && !json_is_string(v) && !json_is_null(v))
            fail(w, who[i], "must be a string or null, not %s", type_name(v));
    }
    v = json_object_get(o, "placed");
    if (v && !json_is_boolean(v))
        fail(w, "placed", "must be a boolean, not %s", type_name(v));

    bool saved = mode == ROOMDOC_PLACED_SAVED;
    json_t *mid = json_object_get(o, "manifest_id");
    json_t *m = NULL;
    if (!mid) {
        if (saved)
            fail(w, "manifest_id", "required for a placed_saved object: a manifest's id");
    } else if (!json_is_string(mid)) {
        fail(w, "manifest_id", "must be a string, not %s", type_name(mid));
    } else if (saved && manifests && !(m = json_object_get(manifests, json_string_value(mid)))) {
        fail(w, "manifest_id", "unknown manifest '%s'", quote(json_string_value(mid), q));
    }
    /* undeclared properties are looked for only when the manifest itself is usable */
    json_t *decls = json_is_object(m) ? json_object_get(m, "properties") : NULL;
    if (!json_is_object(decls))
        decls = NULL;

    json_t *tr = json_object_get(o, "transform");
    if (!tr) {
        if (saved)
            fail(w, "transform", "required for a placed_saved object: position and rotation");
    } else if (!json_is_object(tr)) {
        fail(w, "transform", "must be an object, not %s", type_name(tr));
    } else {
        size_t at = w->plen;
        path_key(w, "transform");
        check_vec(w, tr, "position", 3, saved);
        check_vec(w, tr, "rotation", 4, saved);
        check_vec(w, tr, "scale", 3, false);
        path_truncate(w, at);
    }

    json_t *props = json_object_get(o, "properties");
    if (props && !json_is_object(props)) {
        fail(w, "properties", "must be an object, not %s", type_name(props));
    } else if (props) {
        size_t at = w->plen;
        path_key(w, "properties");
        const char *pname;
        json_t *val;
        json_object_foreach(props, pname, val)
        {
            char q2[QUOTE_MAX_BYTES + 4];
            if (decls && !json_object_get(decls, pname))
                fail(w, pname, "property '%s' is not declared by manifest '%s'", quote(pname, q),
                     quote(json_string_value(mid), q2));
            if (value_depth(val, w->max_depth) > w->max_depth)
                fail(w, pname, "value nested deeper than the limit of %zu", w->max_depth);
        }
        path_truncate(w, at);
    }
    return mode;
}

/* ---- building the stored document ---- */

static json_t *stored_transform(json_t *tr)
{
    json_t *scale = json_object_get(tr, "scale");
    if (scale)
        json_incref(scale);
    else
        scale = json_pack("[iii]", 1, 1, 1);
    return json_pack("{s:O, s:O, s:o}", "position", json_object_get(tr, "position"), "rotation",
                     json_object_get(tr, "rotation"), "scale", scale);
}

/* The stored form of a valid placed_saved object; NULL on allocation failure. */
static json_t *stored_object(json_t *o, json_t *m, size_t *non_durable)
{
    json_t *out = json_object();
    json_t *props = json_object();
    json_t *tr = stored_transform(json_object_get(o, "transform"));
    json_t *seq = json_object_get(o, "seq");
    if (!out || !props || !tr)
        goto fail;

    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(o, "properties"), k, v)
    {
        if (decl_durable(declaration(m, k))) {
            if (json_object_set(props, k, v))
                goto fail;
        } else {
            (*non_durable)++;
        }
    }
    /* every field as sent, in order, with the contract's values where it sets them */
    json_object_foreach(o, k, v)
    {
        if (json_object_set(out, k, v))
            goto fail;
    }
    int bad = 0;
    bad |= json_object_set_new(out, "owner_id", json_null());
    bad |= json_object_set_new(out, "held_by", json_null());
    bad |= json_object_set_new(out, "placed", json_true());
    if (!seq)
        bad |= json_object_set_new(out, "seq", json_integer(0));
    bad |= json_object_set_new(out, "transform", tr);
    tr = NULL;
    bad |= json_object_set_new(out, "properties", props);
    props = NULL;
    if (bad)
        goto fail;
    return out;
fail:
    json_decref(tr);
    json_decref(props);
    json_decref(out);
    return NULL;
}

static enum roomdoc_result build(json_t *manifests, json_t *objects, json_t **stored,
                                 struct roomdoc_stats *st)
{
    enum roomdoc_result rc = ROOMDOC_NOMEM;
    json_t *doc = NULL, *used = json_object(), *kept = json_array();
    if (!used || !kept)
        goto out;
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        int mode = roomdoc_persist_parse(json_string_value(json_object_get(o, "persist_mode")));
        if (mode == ROOMDOC_TRANSIENT_HELD) {
            st->dropped_transient_held++;
            continue;
        }
        if (mode == ROOMDOC_PLACED_ROOM) {
            st->dropped_placed_room++;
            continue;
        }
        const char *mid = json_string_value(json_object_get(o, "manifest_id"));
        json_t *m = json_object_get(manifests, mid);
        json_t *so = stored_object(o, m, &st->non_durable_properties);
        if (!so || json_array_append_new(kept, so))
            goto out;
        if (!json_object_get(used, mid) && json_object_set_new(used, mid, json_true()))
            goto out;
        st->objects_saved++;
    }
    json_t *ms = json_object();
    if (!ms)
        goto out;
    const char *mid;
    json_t *m;
    json_object_foreach(manifests, mid, m)
    {
        /* in the order the manifests were sent */
        if (json_object_get(used, mid) && json_object_set(ms, mid, m)) {
            json_decref(ms);
            goto out;
        }
    }
    doc = json_pack("{s:o, s:O}", "manifests", ms, "objects", kept);
    if (!doc)
        goto out;
    *stored = doc;
    rc = ROOMDOC_OK;
out:
    json_decref(kept);
    json_decref(used);
    return rc;
}

enum roomdoc_result roomdoc_filter(json_t *body, const struct roomdoc_limits *limits,
                                   json_t **stored, struct roomdoc_stats *stats,
                                   struct roomdoc_errors *errors)
{
    enum roomdoc_result rc = ROOMDOC_INVALID;
    struct roomdoc_errors scratch;
    struct roomdoc_stats st = {0};
    struct idset ids = {0};
    struct walk w = {.errors = errors ? errors : &scratch};
    size_t max_objects = limits && limits->max_objects ? limits->max_objects : 10000;
    w.max_depth = limits && limits->max_value_depth ? limits->max_value_depth : 32;
    w.errors->count = w.errors->total = 0;
    *stored = NULL;
    if (stats)
        *stats = st;

    if (!json_is_object(body)) {
        fail(&w, NULL, "the room document must be a JSON object, not %s",
             body ? type_name(body) : "nothing");
        goto out;
    }
    json_t *manifests = json_object_get(body, "manifests");
    json_t *objects = json_object_get(body, "objects");
    if (!manifests)
        fail(&w, "manifests", "required: an object of manifest id to manifest");
    else if (!json_is_object(manifests))
        fail(&w, "manifests", "must be an object, not %s", type_name(manifests));
    else {
        path_key(&w, "manifests");
        check_manifests(&w, manifests);
        path_truncate(&w, 0);
    }
    if (!objects) {
        fail(&w, "objects", "required: an array of objects");
        goto out;
    }
    if (!json_is_array(objects)) {
        fail(&w, "objects", "must be an array, not %s", type_name(objects));
        goto out;
    }
    size_t n = json_array_size(objects);
    if (n > max_objects) {
        fail(&w, "objects", "too many objects: %zu (the limit is %zu)", n, max_objects);
        goto out;
    }
    if (!idset_init(&ids, n)) {
        rc = ROOMDOC_NOMEM;
        goto out;
    }
    json_t *m_ok = json_is_object(manifests) ? manifests : NULL;
    for (size_t i = 0; i < n; i++) {
        path_key(&w, "objects");
        path_index(&w, i);
        check_object(&w, json_array_get(objects, i), m_ok, &ids, i);
        path_truncate(&w, 0);
    }
    if (w.errors->total == 0)
        rc = build(manifests, objects, stored, &st);

out:
    idset_clear(&ids);
    if (rc == ROOMDOC_OK && stats)
        *stats = st;
    return rc;
}
