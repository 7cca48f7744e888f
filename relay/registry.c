/* registry.c — a room's objects and manifests: storage, validation, encoding, export. */
#include "relay/registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/outbox.h"

#define MAX_VALUE_DEPTH 32

__attribute__((format(printf, 3, 4))) static void set_err(struct reg_err *err, const char *code,
                                                          const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void registry_init(struct registry *r)
{
    memset(r, 0, sizeof *r);
    strmap_init(&r->objects);
    strmap_init(&r->manifests);
}

static void object_free(struct reg_object *o)
{
    registry_object_reset_slots(o);
    json_decref(o->props);
    free(o);
}

void registry_clear(struct registry *r)
{
    struct reg_object *o = r->ohead;
    while (o) {
        struct reg_object *n = o->next;
        object_free(o);
        o = n;
    }
    struct reg_manifest *m = r->mhead;
    while (m) {
        struct reg_manifest *n = m->next;
        json_decref(m->properties);
        free(m);
        m = n;
    }
    strmap_clear(&r->objects);
    strmap_clear(&r->manifests);
    registry_init(r);
}

bool registry_id_valid(const json_t *v)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > RELAY_MAX_OBJECT_ID || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

struct reg_manifest *registry_manifest(const struct registry *r, const char *id)
{
    return strmap_get(&r->manifests, id);
}

json_t *registry_manifest_parse(const json_t *properties, size_t max_properties,
                                struct reg_err *err)
{
    if (!json_is_object(properties)) {
        set_err(err, "bad_field", "properties must be an object");
        return NULL;
    }
    if (json_object_size(properties) > max_properties) {
        set_err(err, "bad_field", "too many properties");
        return NULL;
    }
    json_t *out = json_object();
    if (!out) {
        set_err(err, "nomem", "out of memory");
        return NULL;
    }
    const char *name;
    json_t *decl;
    json_object_foreach((json_t *)properties, name, decl)
    {
        json_t *tier = json_object_get(decl, "tier");
        json_t *durable = json_object_get(decl, "durable");
        if (!json_is_object(decl) || strlen(name) == 0 || strlen(name) > RELAY_MAX_OBJECT_ID) {
            set_err(err, "bad_field", "property '%.64s' must be an object with a tier", name);
            goto fail;
        }
        if (roomdoc_tier_parse(json_string_value(tier)) < 0) {
            set_err(err, "bad_field",
                    "property '%.64s': tier must be high_rate_unreliable, "
                    "reliable_on_change or snapshot_only",
                    name);
            goto fail;
        }
        if (durable && !json_is_boolean(durable)) {
            set_err(err, "bad_field", "property '%.64s': durable must be a boolean", name);
            goto fail;
        }
        json_t *d = json_pack("{sO}", "tier", tier);
        if (!d || (durable && json_object_set(d, "durable", durable) != 0) ||
            json_object_set_new(out, name, d) != 0) {
            set_err(err, "nomem", "out of memory");
            goto fail;
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

struct reg_manifest *registry_manifest_put(struct registry *r, const char *id, json_t *properties)
{
    struct reg_manifest *m = registry_manifest(r, id);
    if (m) {
        json_decref(m->properties);
        m->properties = properties;
        return m;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(properties);
        return NULL;
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    if (strmap_put(&r->manifests, m->id, m) != 0) {
        json_decref(properties);
        free(m);
        return NULL;
    }
    m->properties = properties;
    m->prev = r->mtail;
    if (r->mtail)
        r->mtail->next = m;
    else
        r->mhead = m;
    r->mtail = m;
    r->nmanifests++;
    return m;
}

int registry_manifest_tier(const struct reg_manifest *m, const char *name, bool *durable)
{
    json_t *decl = json_object_get(m->properties, name);
    if (!decl)
        return -1;
    int tier = roomdoc_tier_parse(json_string_value(json_object_get(decl, "tier")));
    if (tier < 0)
        return -1;
    if (durable) {
        json_t *d = json_object_get(decl, "durable");
        *durable = roomdoc_is_durable((enum roomdoc_tier)tier, d ? json_is_true(d) : -1);
    }
    return tier;
}

struct reg_object *registry_object(const struct registry *r, const char *id)
{
    return strmap_get(&r->objects, id);
}

struct reg_object *registry_object_add(struct registry *r, const char *id)
{
    if (registry_object(r, id))
        return NULL;
    struct reg_object *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    snprintf(o->id, sizeof o->id, "%s", id);
    o->rot[3] = 1.0;
    o->scale[0] = o->scale[1] = o->scale[2] = 1.0;
    o->props = json_object();
    if (!o->props || strmap_put(&r->objects, o->id, o) != 0) {
        json_decref(o->props);
        free(o);
        return NULL;
    }
    unsigned h = 0;
    for (const char *p = o->id; *p; p++)
        h = h * 31u + (unsigned char)*p;
    o->phase = h;
    o->prev = r->otail;
    if (r->otail)
        r->otail->next = o;
    else
        r->ohead = o;
    r->otail = o;
    r->nobjects++;
    return o;
}

void registry_object_del(struct registry *r, struct reg_object *o)
{
    strmap_del(&r->objects, o->id);
    if (o->prev)
        o->prev->next = o->next;
    else
        r->ohead = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        r->otail = o->prev;
    r->nobjects--;
    object_free(o);
}

void registry_object_reset_slots(struct reg_object *o)
{
    relay_msg_unref(o->rep_msg);
    o->rep_msg = NULL;
    o->rep_tick = 0;
    struct reg_prop_slot *s = o->slots;
    while (s) {
        struct reg_prop_slot *n = s->next;
        relay_msg_unref(s->msg);
        free(s);
        s = n;
    }
    o->slots = NULL;
}

static int vec(const json_t *v, double *out, size_t n)
{
    if (!json_is_array(v) || json_array_size(v) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_number(x))
            return -1;
        double d = json_number_value(x);
        if (!isfinite(d))
            return -1;
        out[i] = d;
    }
    return 0;
}

int registry_parse_transform(const json_t *t, double pos[3], double rot[4], double scale[3])
{
    double p[3], q[4], s[3] = {1, 1, 1};
    if (!json_is_object(t) || vec(json_object_get(t, "position"), p, 3) != 0 ||
        vec(json_object_get(t, "rotation"), q, 4) != 0)
        return -1;
    json_t *sc = json_object_get(t, "scale");
    if (sc && vec(sc, s, 3) != 0)
        return -1;
    memcpy(pos, p, sizeof p);
    memcpy(rot, q, sizeof q);
    if (sc || scale != NULL)
        memcpy(scale, s, sizeof s);
    return 0;
}

json_t *registry_transform_json(const double pos[3], const double rot[4], const double scale[3])
{
    return json_pack("{s[fff]s[ffff]s[fff]}", "position", pos[0], pos[1], pos[2], "rotation",
                     rot[0], rot[1], rot[2], rot[3], "scale", scale[0], scale[1], scale[2]);
}

static size_t depth_of(const json_t *v, size_t limit)
{
    if (limit == 0)
        return 1;
    size_t d = 0, c;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if ((c = depth_of(x, limit - 1)) > d)
                d = c;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if ((c = depth_of(x, limit - 1)) > d)
                d = c;
        }
        return d + 1;
    }
    return 0;
}

int registry_check_props(const struct reg_manifest *m, const json_t *props, struct reg_err *err)
{
    if (!json_is_object(props)) {
        set_err(err, "bad_field", "properties must be an object");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)props, name, v)
    {
        if (registry_manifest_tier(m, name, NULL) < 0) {
            set_err(err, "undeclared", "property '%.64s' is not declared by the manifest", name);
            return -1;
        }
        if (depth_of(v, MAX_VALUE_DEPTH + 1) > MAX_VALUE_DEPTH) {
            set_err(err, "bad_field", "property '%.64s' is nested too deeply", name);
            return -1;
        }
    }
    return 0;
}

const char *registry_owner(const struct reg_object *o, const char *host_id)
{
    return o->owner[0] ? o->owner : host_id;
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

json_t *registry_object_json(const struct reg_object *o, const char *host_id, bool with_live)
{
    json_t *j = json_pack(
        "{sssssssososbsIso}", "object_id", o->id, "manifest_id", o->manifest_id, "persist_mode",
        roomdoc_persist_name(o->persist), "owner_id", str_or_null(registry_owner(o, host_id)),
        "held_by", str_or_null(o->held_by), "placed", (int)o->placed, "seq", (json_int_t)o->seq,
        "transform", registry_transform_json(o->pos, o->rot, o->scale));
    if (!j)
        return NULL;
    /* live encodings share the property map (encoded at once); exports get a copy */
    json_t *props = with_live ? json_incref(o->props) : json_deep_copy(o->props);
    if (json_object_set_new(j, "properties", props) != 0 ||
        (with_live && json_object_set_new(j, "epoch", json_integer((json_int_t)o->epoch)) != 0)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

size_t registry_object_size(const struct reg_object *o)
{
    json_t *j = registry_object_json(o, "00000000-0000-0000-0000-000000000000", true);
    size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : (size_t)-1;
    json_decref(j);
    return n;
}

struct reg_object *registry_object_from_json(struct registry *r, const json_t *src,
                                             size_t max_bytes, struct reg_err *err)
{
    json_t *id = json_object_get(src, "object_id");
    json_t *mid = json_object_get(src, "manifest_id");
    json_t *tr = json_object_get(src, "transform");
    json_t *props = json_object_get(src, "properties");
    json_t *seq = json_object_get(src, "seq");
    if (!registry_id_valid(id)) {
        set_err(err, "bad_field", "object_id must be a string of 1..128 bytes");
        return NULL;
    }
    if (registry_object(r, json_string_value(id))) {
        set_err(err, "exists", "object '%.64s' already exists", json_string_value(id));
        return NULL;
    }
    if (!registry_id_valid(mid)) {
        set_err(err, "bad_field", "manifest_id must be a string of 1..128 bytes");
        return NULL;
    }
    struct reg_manifest *m = registry_manifest(r, json_string_value(mid));
    if (!m) {
        set_err(err, "unknown_manifest", "manifest '%.64s' is not registered",
                json_string_value(mid));
        return NULL;
    }
    int persist = roomdoc_persist_parse(json_string_value(json_object_get(src, "persist_mode")));
    if (persist < 0) {
        set_err(err, "bad_field",
                "persist_mode must be transient_held, placed_room or "
                "placed_saved");
        return NULL;
    }
    double pos[3] = {0, 0, 0}, rot[4] = {0, 0, 0, 1}, scale[3] = {1, 1, 1};
    if (tr && !json_is_null(tr) && registry_parse_transform(tr, pos, rot, scale) != 0) {
        set_err(err, "bad_field",
                "transform needs position [3], rotation [4], optional scale "
                "[3], finite numbers");
        return NULL;
    }
    if (props && !json_is_null(props) && registry_check_props(m, props, err) != 0)
        return NULL;
    if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0)) {
        set_err(err, "bad_field", "seq must be a non-negative integer");
        return NULL;
    }
    struct reg_object *o = registry_object_add(r, json_string_value(id));
    if (!o) {
        set_err(err, "nomem", "out of memory");
        return NULL;
    }
    snprintf(o->manifest_id, sizeof o->manifest_id, "%s", m->id);
    o->persist = (enum roomdoc_persist)persist;
    o->placed = persist != ROOMDOC_TRANSIENT_HELD;
    memcpy(o->pos, pos, sizeof pos);
    memcpy(o->rot, rot, sizeof rot);
    memcpy(o->scale, scale, sizeof scale);
    o->seq = seq ? (uint64_t)json_integer_value(seq) : 0;
    if (props && json_is_object(props) && json_object_update(o->props, (json_t *)props) != 0) {
        registry_object_del(r, o);
        set_err(err, "nomem", "out of memory");
        return NULL;
    }
    if (registry_object_size(o) > max_bytes) {
        registry_object_del(r, o);
        set_err(err, "too_large", "object '%.64s' is too large for a snapshot chunk",
                json_string_value(id));
        return NULL;
    }
    return o;
}

json_t *registry_export(const struct registry *r, const char *host_id)
{
    json_t *doc = json_pack("{s{}s[]}", "manifests", "objects");
    if (!doc)
        return NULL;
    json_t *ms = json_object_get(doc, "manifests"), *os = json_object_get(doc, "objects");
    for (const struct reg_manifest *m = r->mhead; m; m = m->next)
        if (json_object_set_new(ms, m->id, json_pack("{sO}", "properties", m->properties)) != 0)
            goto fail;
    for (const struct reg_object *o = r->ohead; o; o = o->next)
        if (json_array_append_new(os, registry_object_json(o, host_id, false)) != 0)
            goto fail;
    return doc;
fail:
    json_decref(doc);
    return NULL;
}
