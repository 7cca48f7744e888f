/* test_roomschema.c — the description of the room document (common/roomschema.h) is the
 * one place its rules are written, and both readers of a save body follow it: the jansson
 * tree (roomdoc_filter, roomdoc_filter_in_place) and the single-pass scanner
 * (roomscan_filter).  Every expectation here is derived from the tables themselves — each
 * member with each persist mode and a range of values, each tier with each durable flag,
 * each limit — so a rule changed in the table (a member's kind, need or stored value, a
 * new mode or tier, a limit) is checked again on both paths without editing this file.
 * For every document: the tree accepts it exactly when the description says so, the
 * scanner decides every such valid document itself (these documents use no escapes) and
 * refuses (falls back on) every invalid one, and both store the form the description
 * gives, with the same counts. */
#include "common/roomdoc.h"
#include "common/roomscan.h"
#include "common/roomschema.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- both paths on one document ---- */

struct outcome {
    bool ok;
    struct roomdoc_stats st;
    json_t *stored; /* the reference's stored document (a reference), NULL when refused */
};

static void run_both(json_t *doc, const struct roomdoc_limits *lim, struct outcome *out)
{
    static struct roomdoc_errors errs;
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    size_t len = strlen(text);
    json_error_t err;

    json_t *a = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(a != NULL, "%s", err.text);
    json_t *stored = NULL, *stored_ip = NULL;
    struct roomdoc_stats st = {0}, st_ip = {0}, st_scan = {0};
    enum roomdoc_result rr = roomdoc_filter(a, lim, &stored, &st, &errs);
    ck_assert_int_ne(rr, ROOMDOC_NOMEM);
    if (rr == ROOMDOC_INVALID)
        ck_assert_uint_gt(errs.total, 0);

    json_t *b = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    ck_assert_ptr_nonnull(b);
    enum roomdoc_result ri = roomdoc_filter_in_place(b, lim, &stored_ip, &st_ip, NULL);
    ck_assert_int_eq(ri, rr);

    char *sdoc = NULL;
    size_t sl = 0;
    enum roomscan_result sr = roomscan_filter(text, len, lim, &sdoc, &sl, &st_scan);
    ck_assert_int_ne(sr, ROOMSCAN_NOMEM);
    ck_assert_msg(
        (sr == ROOMSCAN_OK) == (rr == ROOMDOC_OK), "the scanner %s what the tree %s: %.400s",
        sr == ROOMSCAN_OK ? "accepts" : "refuses", rr == ROOMDOC_OK ? "accepts" : "refuses", text);
    if (rr == ROOMDOC_OK) {
        ck_assert(json_equal(stored, stored_ip));
        ck_assert_mem_eq(&st, &st_ip, sizeof st);
        ck_assert_mem_eq(&st, &st_scan, sizeof st);
        json_t *got = json_loadb(sdoc, sl, JSON_REJECT_DUPLICATES, &err);
        ck_assert_msg(got != NULL, "scanner's stored document: %s", err.text);
        ck_assert_msg(json_equal(got, stored), "stored documents differ: %.400s | %.400s", sdoc,
                      text);
        json_decref(got);
    } else {
        ck_assert_ptr_null(sdoc);
    }
    out->ok = rr == ROOMDOC_OK;
    out->st = st;
    out->stored = stored;
    free(sdoc);
    json_decref(stored_ip);
    json_decref(a);
    json_decref(b);
    free(text);
}

/* ---- documents made from the description ---- */

static json_t *parse(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(v != NULL, "not JSON: %s", text);
    return v;
}

static void decl_name(char *out, size_t cap, int tier, int flag)
{
    snprintf(out, cap, "p_%s%s", roomschema_tiers[tier].name,
             flag < 0 ? ""
             : flag   ? "_durable"
                      : "_not_durable");
}

/* {"m": {"properties": {one declaration per tier and durable flag}}} */
static json_t *manifests(void)
{
    json_t *decls = json_object();
    char name[64];
    for (int t = 0; t < ROOMSCHEMA_TIERS; t++)
        for (int flag = -1; flag <= 1; flag++) {
            json_t *d = json_object();
            json_object_set_new(d, ROOMSCHEMA_DECL_TIER, json_string(roomschema_tiers[t].name));
            if (flag >= 0)
                json_object_set_new(d, ROOMSCHEMA_DECL_DURABLE, json_boolean(flag));
            decl_name(name, sizeof name, t, flag);
            json_object_set_new(decls, name, d);
        }
    json_t *m = json_object();
    json_object_set_new(m, ROOMSCHEMA_DECLS, decls);
    json_t *ms = json_object();
    json_object_set_new(ms, "m", m);
    return ms;
}

/* The declaration of a property name of manifests(), or NULL. */
static bool declared(const char *name, bool *durable)
{
    char want[64];
    for (int t = 0; t < ROOMSCHEMA_TIERS; t++)
        for (int flag = -1; flag <= 1; flag++) {
            decl_name(want, sizeof want, t, flag);
            if (strcmp(want, name) == 0) {
                *durable = roomdoc_is_durable((enum roomdoc_tier)t, flag);
                return true;
            }
        }
    return false;
}

static json_t *vector(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, i % 2 ? json_real(0.5 + (double)i) : json_integer((json_int_t)i));
    return a;
}

/* A valid value of each kind (for mode, the mode itself). */
static json_t *valid_value(enum roomschema_kind kind, int mode)
{
    switch (kind) {
    case ROOMSCHEMA_KIND_ID:
        return json_string("o1");
    case ROOMSCHEMA_KIND_MODE:
        return json_string(roomschema_modes[mode].name);
    case ROOMSCHEMA_KIND_COUNT:
        return json_integer(5);
    case ROOMSCHEMA_KIND_STRING_OR_NULL:
        return json_string("u1");
    case ROOMSCHEMA_KIND_BOOLEAN:
        return json_false();
    case ROOMSCHEMA_KIND_MANIFEST:
        return json_string("m");
    case ROOMSCHEMA_KIND_TRANSFORM: {
        json_t *t = json_object();
        for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++)
            json_object_set_new(t, roomschema_vectors[i].name, vector(roomschema_vectors[i].n));
        return t;
    }
    case ROOMSCHEMA_KIND_PROPERTIES: {
        json_t *p = json_object();
        char name[64];
        for (int t = 0; t < ROOMSCHEMA_TIERS; t++) {
            decl_name(name, sizeof name, t, -1);
            json_object_set_new(p, name, json_integer(t));
        }
        return p;
    }
    }
    return json_null();
}

/* An object of the given mode with every member of the description valid, and one member
 * the description does not know. */
static json_t *full_object(int mode)
{
    json_t *o = json_object();
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++)
        json_object_set_new(o, roomschema_members[f].name,
                            valid_value(roomschema_members[f].kind, mode));
    json_object_set_new(o, "color", json_string("red"));
    return o;
}

/* An object of the given mode with only the members the description requires. */
static json_t *minimal_object(int mode, const char *id)
{
    json_t *o = json_object();
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        const struct roomschema_member *d = &roomschema_members[f];
        if (d->need == ROOMSCHEMA_REQUIRED ||
            (d->need == ROOMSCHEMA_REQUIRED_STORED && roomschema_modes[mode].stored))
            json_object_set_new(o, d->name,
                                d->kind == ROOMSCHEMA_KIND_ID ? json_string(id)
                                                              : valid_value(d->kind, mode));
    }
    return o;
}

static json_t *document(json_t *objects)
{
    json_t *doc = json_object();
    json_object_set_new(doc, ROOMSCHEMA_MANIFESTS, manifests());
    json_object_set_new(doc, ROOMSCHEMA_OBJECTS, objects);
    return doc;
}

/* JSON depth as the contract counts it: a scalar 0, [] 1. */
static size_t depth(const json_t *v)
{
    size_t best = 0, d;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if ((d = depth(x)) > best) best = d;
        return best + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if ((d = depth(x)) > best) best = d;
        return best + 1;
    }
    return 0;
}

static bool vector_ok(const json_t *v, size_t n)
{
    if (!json_is_array(v) || json_array_size(v) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!json_is_number(json_array_get(v, i)))
            return false;
    return true;
}

/* What the description says of member f sent as v (NULL: absent) in an object of mode. */
static bool expect_valid(enum roomschema_field f, int mode, const json_t *v)
{
    const struct roomschema_member *d = &roomschema_members[f];
    bool stored = roomschema_modes[mode].stored, dummy;
    const char *k;
    json_t *x;
    if (!v)
        return !(d->need == ROOMSCHEMA_REQUIRED ||
                 (d->need == ROOMSCHEMA_REQUIRED_STORED && stored));
    switch (d->kind) {
    case ROOMSCHEMA_KIND_ID:
        return json_is_string(v) && json_string_length(v) >= 1 &&
               json_string_length(v) <= ROOMSCHEMA_OBJECT_ID_MAX_BYTES;
    case ROOMSCHEMA_KIND_MODE:
        return json_is_string(v) && roomdoc_persist_parse(json_string_value(v)) >= 0;
    case ROOMSCHEMA_KIND_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case ROOMSCHEMA_KIND_STRING_OR_NULL:
        return json_is_string(v) || json_is_null(v);
    case ROOMSCHEMA_KIND_BOOLEAN:
        return json_is_boolean(v);
    case ROOMSCHEMA_KIND_MANIFEST:
        return json_is_string(v) && (!stored || strcmp(json_string_value(v), "m") == 0);
    case ROOMSCHEMA_KIND_TRANSFORM:
        if (!json_is_object(v))
            return false;
        for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++) {
            const json_t *vec = json_object_get(v, roomschema_vectors[i].name);
            if (vec ? !vector_ok(vec, roomschema_vectors[i].n)
                    : stored && roomschema_vectors[i].required)
                return false;
        }
        return true;
    case ROOMSCHEMA_KIND_PROPERTIES:
        if (!json_is_object(v))
            return false;
        json_object_foreach((json_t *)v, k, x)
        {
            if (depth(x) > ROOMSCHEMA_MAX_VALUE_DEPTH || (stored && !declared(k, &dummy)))
                return false;
        }
        return true;
    }
    return false;
}

/* What the stored form has for member name sent as v (NULL: absent); NULL when nothing. */
static json_t *expect_stored(const char *name, const json_t *v)
{
    const struct roomschema_member *d =
        &roomschema_members[roomschema_field_of(name, strlen(name))];
    const char *k;
    json_t *x, *out;
    bool durable;
    switch (d->store) {
    case ROOMSCHEMA_STORE_KEEP:
        return v ? json_deep_copy(v) : NULL;
    case ROOMSCHEMA_STORE_SET:
        return parse(d->value);
    case ROOMSCHEMA_STORE_DEFAULT:
        return v ? json_deep_copy(v) : parse(d->value);
    case ROOMSCHEMA_STORE_DURABLE:
        if (!v)
            return parse(d->value);
        out = json_object();
        json_object_foreach((json_t *)v, k, x) if (declared(k, &durable) && durable)
            json_object_set_new(out, k, json_deep_copy(x));
        return out;
    case ROOMSCHEMA_STORE_VECTORS:
        out = json_object();
        for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++) {
            const json_t *vec = json_object_get(v, roomschema_vectors[i].name);
            if (vec)
                json_object_set_new(out, roomschema_vectors[i].name, json_deep_copy(vec));
            else if (roomschema_vectors[i].value)
                json_object_set_new(out, roomschema_vectors[i].name,
                                    parse(roomschema_vectors[i].value));
        }
        return out;
    }
    return NULL;
}

/* The stored object is what the description makes of the object sent. */
static void check_stored_object(const json_t *sent, const json_t *got)
{
    const char *k;
    json_t *v;
    ck_assert(json_is_object(got));
    /* every member sent, and every member of the description */
    json_object_foreach((json_t *)sent, k, v)
    {
        json_t *want = expect_stored(k, v);
        ck_assert_msg(want ? json_equal(want, json_object_get(got, k)) : !json_object_get(got, k),
                      "stored %s", k);
        json_decref(want);
    }
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        const char *name = roomschema_members[f].name;
        if (json_object_get(sent, name))
            continue;
        json_t *want = expect_stored(name, NULL);
        ck_assert_msg(want ? json_equal(want, json_object_get(got, name))
                           : !json_object_get(got, name),
                      "stored %s (not sent)", name);
        json_decref(want);
    }
    json_object_foreach((json_t *)got, k, v)
    {
        ck_assert_msg(json_object_get(sent, k) ||
                          roomschema_field_of(k, strlen(k)) != ROOMSCHEMA_OTHER,
                      "stored member %s came from nowhere", k);
    }
}

/* One object of mode with member f set to v (NULL: removed), through both paths. */
static void check_member_value(enum roomschema_field f, int mode, json_t *v)
{
    json_t *o = full_object(mode);
    const char *name = roomschema_members[f].name;
    if (v)
        json_object_set(o, name, v);
    else
        json_object_del(o, name);
    /* replacing persist_mode changes the object's mode */
    int eff = mode;
    if (f == ROOMSCHEMA_PERSIST_MODE)
        eff = v && json_is_string(v) ? roomdoc_persist_parse(json_string_value(v)) : -1;
    bool want = f == ROOMSCHEMA_PERSIST_MODE ? eff >= 0 : expect_valid(f, mode, v);
    json_t *doc = document(json_pack("[O]", o));
    struct outcome r;
    run_both(doc, NULL, &r);
    char *vt = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    ck_assert_msg(r.ok == want, "%s = %.100s in a %s object: %s, the description says %s", name,
                  vt ? vt : "(absent)", roomschema_modes[mode].name, r.ok ? "accepted" : "refused",
                  want ? "valid" : "invalid");
    if (r.ok) {
        const struct roomschema_mode *md = &roomschema_modes[eff];
        json_t *objs = json_object_get(r.stored, ROOMSCHEMA_OBJECTS);
        ck_assert_uint_eq(json_array_size(objs), md->stored ? 1 : 0);
        ck_assert_uint_eq(r.st.objects_saved, md->stored ? 1 : 0);
        for (int m = 0; m < ROOMSCHEMA_MODES; m++)
            if (!roomschema_modes[m].stored)
                ck_assert_uint_eq(
                    *(const size_t *)((const char *)&r.st + roomschema_modes[m].dropped),
                    m == eff ? 1 : 0);
        if (md->stored)
            check_stored_object(o, json_array_get(objs, 0));
        /* the manifest is kept exactly when an object that uses it is stored */
        ck_assert_uint_eq(json_object_size(json_object_get(r.stored, ROOMSCHEMA_MANIFESTS)),
                          md->stored ? 1 : 0);
    }
    free(vt);
    json_decref(r.stored);
    json_decref(doc);
    json_decref(o);
}

/* Values of every JSON type, and values made for a kind. */
static void candidates(enum roomschema_kind kind, json_t *out)
{
    static const char *const any[] = {"\"s\"", "\"\"",    "null",      "true",     "false",
                                      "0",     "7",       "-1",        "1.5",      "{}",
                                      "[]",    "[1,2,3]", "[1,2,3,4]", "{\"x\":1}"};
    for (size_t i = 0; i < sizeof any / sizeof *any; i++)
        json_array_append_new(out, parse(any[i]));
    char buf[ROOMSCHEMA_OBJECT_ID_MAX_BYTES + 2];
    switch (kind) {
    case ROOMSCHEMA_KIND_ID:
        for (size_t n = ROOMSCHEMA_OBJECT_ID_MAX_BYTES; n <= ROOMSCHEMA_OBJECT_ID_MAX_BYTES + 1;
             n++) {
            memset(buf, 'i', n);
            buf[n] = '\0';
            json_array_append_new(out, json_string(buf));
        }
        break;
    case ROOMSCHEMA_KIND_MODE:
        for (int m = 0; m < ROOMSCHEMA_MODES; m++)
            json_array_append_new(out, json_string(roomschema_modes[m].name));
        json_array_append_new(out, json_string("floating"));
        break;
    case ROOMSCHEMA_KIND_MANIFEST:
        json_array_append_new(out, json_string("m"));
        json_array_append_new(out, json_string("nope"));
        break;
    case ROOMSCHEMA_KIND_TRANSFORM:
        for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++) {
            json_t *t = valid_value(kind, 0);
            json_object_del(t, roomschema_vectors[i].name); /* each vector absent */
            json_array_append_new(out, t);
            t = valid_value(kind, 0);
            json_object_set_new(t, roomschema_vectors[i].name, vector(roomschema_vectors[i].n + 1));
            json_array_append_new(out, t);
            t = valid_value(kind, 0);
            json_array_set_new(json_object_get(t, roomschema_vectors[i].name), 0, json_string("x"));
            json_array_append_new(out, t);
        }
        json_t *skew = valid_value(kind, 0);
        json_object_set_new(skew, "skew", json_integer(1)); /* not a vector */
        json_array_append_new(out, skew);
        json_array_append_new(out, json_pack("{s:i}", "skew", 1)); /* no vector at all */
        break;
    case ROOMSCHEMA_KIND_PROPERTIES: {
        json_t *p = json_object();
        char name[64];
        for (int tier = 0; tier < ROOMSCHEMA_TIERS; tier++)
            for (int flag = -1; flag <= 1; flag++) {
                decl_name(name, sizeof name, tier, flag);
                json_object_set_new(p, name, json_integer(flag));
                json_array_append_new(out, json_pack("{s:[i]}", name, flag)); /* one alone */
            }
        json_array_append_new(out, p);
        json_array_append_new(out, json_pack("{s:i}", "undeclared", 1));
        for (size_t d = ROOMSCHEMA_MAX_VALUE_DEPTH; d <= ROOMSCHEMA_MAX_VALUE_DEPTH + 1; d++) {
            json_t *deep = json_integer(1);
            for (size_t i = 0; i < d; i++)
                deep = json_pack("[o]", deep);
            decl_name(name, sizeof name, 0, 1);
            json_array_append_new(out, json_pack("{s:o}", name, deep));
        }
        break;
    }
    default:
        break;
    }
}

START_TEST(test_every_member_in_every_mode)
{
    size_t n = 0;
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++)
        for (int mode = 0; mode < ROOMSCHEMA_MODES; mode++) {
            json_t *vals = json_array();
            candidates(roomschema_members[f].kind, vals);
            check_member_value((enum roomschema_field)f, mode, NULL);
            for (size_t i = 0; i < json_array_size(vals); i++, n++)
                check_member_value((enum roomschema_field)f, mode, json_array_get(vals, i));
            json_decref(vals);
        }
    ck_assert_uint_gt(n, (size_t)(ROOMSCHEMA_FIELDS - 1) * ROOMSCHEMA_MODES * 14);
}
END_TEST

/* Each tier with each durable flag: both paths keep exactly the durable properties. */
START_TEST(test_tiers_and_durability)
{
    int stored_mode = -1;
    for (int m = 0; m < ROOMSCHEMA_MODES && stored_mode < 0; m++)
        if (roomschema_modes[m].stored)
            stored_mode = m;
    ck_assert_int_ge(stored_mode, 0);
    json_t *o = full_object(stored_mode), *props = json_object();
    char name[64];
    size_t nd = 0, kept = 0;
    for (int t = 0; t < ROOMSCHEMA_TIERS; t++)
        for (int flag = -1; flag <= 1; flag++) {
            decl_name(name, sizeof name, t, flag);
            json_object_set_new(props, name, json_integer(t));
            bool durable = flag >= 0 ? flag == 1 : roomschema_tiers[t].durable;
            ck_assert_int_eq(roomdoc_is_durable((enum roomdoc_tier)t, flag), durable);
            kept += durable;
            nd += !durable;
        }
    json_object_set_new(o, roomschema_members[ROOMSCHEMA_PROPERTIES].name, props);
    json_t *doc = document(json_pack("[O]", o));
    struct outcome r;
    run_both(doc, NULL, &r);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.st.non_durable_properties, nd);
    json_t *got = json_object_get(json_array_get(json_object_get(r.stored, ROOMSCHEMA_OBJECTS), 0),
                                  roomschema_members[ROOMSCHEMA_PROPERTIES].name);
    ck_assert_uint_eq(json_object_size(got), kept);
    check_stored_object(o, json_array_get(json_object_get(r.stored, ROOMSCHEMA_OBJECTS), 0));
    json_decref(r.stored);
    json_decref(doc);

    /* a tier not in the table, a flag not a boolean, a declaration without a tier */
    static const char *const bad[] = {"{\"tier\":\"sometimes\"}", "{\"tier\":1}",
                                      "{\"tier\":\"snapshot_only\",\"durable\":\"no\"}",
                                      "{\"durable\":true}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        doc = document(json_pack("[O]", o));
        json_t *decls = json_object_get(
            json_object_get(json_object_get(doc, ROOMSCHEMA_MANIFESTS), "m"), ROOMSCHEMA_DECLS);
        json_object_set_new(decls, "p_bad", parse(bad[i]));
        run_both(doc, NULL, &r);
        ck_assert_msg(!r.ok, "declaration %s accepted", bad[i]);
        json_decref(doc);
    }
    json_decref(o);
}
END_TEST

/* The limits, at and one past each, on both paths. */
START_TEST(test_limits)
{
    struct outcome r;
    struct roomdoc_limits lim = roomschema_limits(NULL);
    ck_assert_uint_eq(lim.max_objects, ROOMSCHEMA_MAX_OBJECTS);
    ck_assert_uint_eq(lim.max_value_depth, ROOMSCHEMA_MAX_VALUE_DEPTH);
    struct roomdoc_limits given = {.max_objects = 3, .max_value_depth = 0};
    lim = roomschema_limits(&given);
    ck_assert_uint_eq(lim.max_objects, 3);
    ck_assert_uint_eq(lim.max_value_depth, ROOMSCHEMA_MAX_VALUE_DEPTH);

    /* objects: the default limit, and one given */
    for (size_t extra = 0; extra <= 1; extra++) {
        json_t *objs = json_array();
        char id[32];
        for (size_t i = 0; i < ROOMSCHEMA_MAX_OBJECTS + extra; i++) {
            snprintf(id, sizeof id, "o%zu", i);
            json_array_append_new(objs, minimal_object((int)(i % ROOMSCHEMA_MODES), id));
        }
        json_t *doc = document(objs);
        run_both(doc, NULL, &r);
        ck_assert_int_eq(r.ok, extra == 0);
        json_decref(r.stored);
        lim = (struct roomdoc_limits){.max_objects = 3};
        while (json_array_size(objs) > 3 + extra)
            json_array_remove(objs, json_array_size(objs) - 1);
        run_both(doc, &lim, &r);
        ck_assert_int_eq(r.ok, extra == 0);
        json_decref(r.stored);
        json_decref(doc);
    }

    /* the same object id twice */
    for (int mode = 0; mode < ROOMSCHEMA_MODES; mode++) {
        json_t *doc = document(json_pack("[oo]", full_object(mode), full_object(mode)));
        run_both(doc, NULL, &r);
        ck_assert(!r.ok);
        json_decref(doc);
    }

    /* a property value at a given depth limit, and one deeper */
    for (size_t d = 1; d <= 4; d++) {
        json_t *o = full_object(0), *deep = json_integer(1);
        for (size_t i = 0; i < d; i++)
            deep = json_pack("[o]", deep);
        json_object_set_new(o, roomschema_members[ROOMSCHEMA_PROPERTIES].name,
                            json_pack("{s:o}", "any", deep));
        json_t *doc = document(json_pack("[o]", o));
        lim = (struct roomdoc_limits){.max_value_depth = 3};
        run_both(doc, &lim, &r);
        ck_assert_int_eq(r.ok, d <= 3);
        json_decref(r.stored);
        json_decref(doc);
    }

    /* room ids */
    char room[ROOMSCHEMA_ROOM_ID_MAX_BYTES + 2];
    memset(room, 'r', sizeof room);
    ck_assert(roomdoc_room_id_valid(room, ROOMSCHEMA_ROOM_ID_MAX_BYTES));
    ck_assert(!roomdoc_room_id_valid(room, ROOMSCHEMA_ROOM_ID_MAX_BYTES + 1));
}
END_TEST

/* The names as messages list them ("a, b or c") are want. */
static void check_list(const char *const *names, int n, const char *want)
{
    char list[256];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", names[i],
                                i + 2 < n   ? ", "
                                : i + 1 < n ? " or "
                                            : "");
    ck_assert_str_eq(list, want);
}

/* The tables are consistent with themselves and with the look-ups. */
START_TEST(test_description)
{
    const char *names[ROOMSCHEMA_MODES > ROOMSCHEMA_TIERS ? ROOMSCHEMA_MODES : ROOMSCHEMA_TIERS];
    for (int m = 0; m < ROOMSCHEMA_MODES; m++) {
        ck_assert_uint_eq(roomschema_modes[m].len, strlen(roomschema_modes[m].name));
        ck_assert_int_eq(roomschema_mode_of(roomschema_modes[m].name, roomschema_modes[m].len), m);
        ck_assert_int_eq(roomdoc_persist_parse(roomdoc_persist_name((enum roomdoc_persist)m)), m);
        names[m] = roomschema_modes[m].name;
    }
    check_list(names, ROOMSCHEMA_MODES, ROOMSCHEMA_MODE_LIST);
    for (int t = 0; t < ROOMSCHEMA_TIERS; t++) {
        ck_assert_uint_eq(roomschema_tiers[t].len, strlen(roomschema_tiers[t].name));
        ck_assert_int_eq(roomdoc_tier_parse(roomdoc_tier_name((enum roomdoc_tier)t)), t);
        names[t] = roomschema_tiers[t].name;
    }
    check_list(names, ROOMSCHEMA_TIERS, ROOMSCHEMA_TIER_LIST);
    ck_assert_int_eq(roomdoc_persist_parse("floating"), -1);
    ck_assert_int_eq(roomdoc_persist_parse(NULL), -1);
    ck_assert_str_eq(roomdoc_tier_name((enum roomdoc_tier)ROOMSCHEMA_TIERS), "unknown");

    int mode_at = -1;
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++) {
        const struct roomschema_member *d = &roomschema_members[f];
        ck_assert_uint_eq(d->len, strlen(d->name));
        /* within the bounds a reader sizes its buffers by (also checked when compiled) */
        ck_assert_uint_le(d->len, ROOMSCHEMA_NAME_MAX);
        ck_assert(!d->value || strlen(d->value) <= ROOMSCHEMA_VALUE_MAX);
        ck_assert_int_eq(roomschema_field_of(d->name, d->len), f);
        if (d->kind == ROOMSCHEMA_KIND_MODE)
            mode_at = f;
        if (d->need != ROOMSCHEMA_OPTIONAL)
            ck_assert_ptr_nonnull(d->required);
        /* the readers need the mode before a member whose need depends on it */
        if (d->need == ROOMSCHEMA_REQUIRED_STORED)
            ck_assert_int_ge(mode_at, 0);
        if (d->store == ROOMSCHEMA_STORE_SET || d->store == ROOMSCHEMA_STORE_DEFAULT ||
            d->store == ROOMSCHEMA_STORE_DURABLE)
            json_decref(parse(d->value));
    }
    ck_assert_int_eq(roomschema_field_of("colour", 6), ROOMSCHEMA_OTHER);
    ck_assert_int_eq(roomschema_field_of("seq", 2), ROOMSCHEMA_OTHER);
    /* every member the stored form adds has a value, and is listed once */
    for (int i = 0; i < ROOMSCHEMA_ADDED; i++) {
        ck_assert_ptr_nonnull(roomschema_members[roomschema_added[i]].value);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(roomschema_added[i], roomschema_added[j]);
    }
    for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++) {
        const struct roomschema_vector *v = &roomschema_vectors[i];
        ck_assert_int_eq(roomschema_vector_of(v->name, v->len), i);
        ck_assert_uint_eq(v->len, strlen(v->name));
        ck_assert_uint_le(v->len, ROOMSCHEMA_NAME_MAX);
        ck_assert(!v->value || strlen(v->value) <= ROOMSCHEMA_VALUE_MAX);
        if (v->value) {
            json_t *dv = parse(v->value);
            ck_assert(vector_ok(dv, v->n));
            json_decref(dv);
        }
    }
    ck_assert(roomschema_vectors_as_sent(ROOMSCHEMA_VECTORS_N, (1u << ROOMSCHEMA_VECTORS_N) - 1));
    ck_assert(
        !roomschema_vectors_as_sent(ROOMSCHEMA_VECTORS_N + 1, (1u << ROOMSCHEMA_VECTORS_N) - 1));
}
END_TEST

static Suite *roomschema_suite(void)
{
    Suite *s = suite_create("roomschema");
    TCase *tc = tcase_create("roomschema");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_description);
    tcase_add_test(tc, test_every_member_in_every_mode);
    tcase_add_test(tc, test_tiers_and_durability);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(roomschema_suite)
