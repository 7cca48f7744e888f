/* test_roomdoc.c — unit tests of common/roomdoc: every validation rule of docs/http-api.md,
 * what is stored, the limits, every error reported, the room id rule
 * (test_roomdoc_files.c checks examples/room.json and the benchmark payloads). */
#include "common/roomdoc.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A valid document: one manifest with every tier, one object of each persist mode. */
static const char *const BASE =
    "{\"manifests\": {"
    "  \"crate_v1\": {\"properties\": {"
    "    \"color\": {\"tier\": \"reliable_on_change\"},"
    "    \"label\": {\"tier\": \"snapshot_only\"},"
    "    \"wobble\": {\"tier\": \"high_rate_unreliable\"},"
    "    \"highlight\": {\"tier\": \"reliable_on_change\", \"durable\": false},"
    "    \"charge\": {\"tier\": \"high_rate_unreliable\", \"durable\": true},"
    "    \"note\": {\"tier\": \"snapshot_only\", \"durable\": true}}},"
    "  \"unused_v1\": {\"properties\": {\"x\": {\"tier\": \"snapshot_only\"}}}"
    "},"
    "\"objects\": ["
    "  {\"object_id\": \"crate-17\", \"manifest_id\": \"crate_v1\","
    "   \"persist_mode\": \"placed_saved\", \"owner_id\": \"u1\", \"held_by\": \"u1\","
    "   \"placed\": false, \"seq\": 42, \"extra\": {\"k\": [1, 2]},"
    "   \"transform\": {\"position\": [1.0, 0.5, -2.0], \"rotation\": [0, 0, 0, 1],"
    "                 \"scale\": [2, 2, 2], \"velocity\": [9, 9, 9]},"
    "   \"properties\": {\"color\": \"#ff0000\", \"label\": \"tools\", \"wobble\": 0.3,"
    "                  \"highlight\": true, \"charge\": 7, \"note\": null}},"
    "  {\"object_id\": \"ball-1\", \"manifest_id\": \"crate_v1\","
    "   \"persist_mode\": \"placed_room\"},"
    "  {\"object_id\": \"held-1\", \"persist_mode\": \"transient_held\", \"held_by\": \"u2\"}"
    "]}";

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s (line %d col %d)", err.text, err.line,
                  err.column);
    return j;
}

static json_t *obj(json_t *doc, size_t i)
{
    return json_array_get(json_object_get(doc, "objects"), i);
}

/* Sets a member from JSON text (NULL text removes it). */
static void set(json_t *o, const char *key, const char *text)
{
    if (!text) {
        json_object_del(o, key);
        return;
    }
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    ck_assert_msg(v != NULL, "bad test value %s", text);
    ck_assert_int_eq(json_object_set_new(o, key, v), 0);
}

struct run {
    enum roomdoc_result rc;
    json_t *stored;
    struct roomdoc_stats stats;
    struct roomdoc_errors errors;
};

/* roomdoc_filter_in_place on a copy of doc gives exactly what roomdoc_filter gives. */
static void same_in_place(json_t *doc, const struct roomdoc_limits *lim, const struct run *r)
{
    static struct roomdoc_errors errors;
    struct roomdoc_stats stats = {0};
    json_t *copy = doc ? json_deep_copy(doc) : NULL, *stored = NULL;
    enum roomdoc_result rc = roomdoc_filter_in_place(copy, lim, &stored, &stats, &errors);
    ck_assert_int_eq(rc, r->rc);
    ck_assert_int_eq(errors.total, r->errors.total);
    ck_assert_int_eq(errors.count, r->errors.count);
    for (size_t i = 0; i < errors.count; i++) {
        ck_assert_str_eq(errors.items[i].path, r->errors.items[i].path);
        ck_assert_str_eq(errors.items[i].message, r->errors.items[i].message);
    }
    ck_assert(memcmp(&stats, &r->stats, sizeof stats) == 0);
    ck_assert_msg(rc != ROOMDOC_OK || json_equal(stored, r->stored),
                  "in-place stored document differs");
    json_decref(stored);
    json_decref(copy);
}

static struct run *filter(json_t *doc, size_t max_objects, size_t max_depth)
{
    static struct run r;
    struct roomdoc_limits lim = {.max_objects = max_objects, .max_value_depth = max_depth};
    json_decref(r.stored);
    memset(&r, 0, sizeof r);
    r.rc = roomdoc_filter(doc, &lim, &r.stored, &r.stats, &r.errors);
    if (r.rc != ROOMDOC_OK)
        ck_assert_ptr_null(r.stored);
    else
        ck_assert_ptr_nonnull(r.stored);
    same_in_place(doc, &lim, &r);
    return &r;
}

static void release(struct run *r, json_t *doc)
{
    json_decref(r->stored);
    r->stored = NULL;
    json_decref(doc);
}

static const struct roomdoc_error *find_error(const struct run *r, const char *path)
{
    for (size_t i = 0; i < r->errors.count; i++)
        if (strcmp(r->errors.items[i].path, path) == 0)
            return &r->errors.items[i];
    return NULL;
}

/* The run failed with 422 and has an error at path whose message contains needle. */
static void expect_error(const struct run *r, const char *path, const char *needle)
{
    ck_assert_int_eq(r->rc, ROOMDOC_INVALID);
    const struct roomdoc_error *e = find_error(r, path);
    if (!e) {
        for (size_t i = 0; i < r->errors.count; i++)
            fprintf(stderr, "  have: %s: %s\n", r->errors.items[i].path,
                    r->errors.items[i].message);
        ck_abort_msg("no error at path '%s'", path);
    }
    ck_assert_msg(strstr(e->message, needle) != NULL, "error at %s is '%s', wanted '%s'", path,
                  e->message, needle);
}

/* Mutates a fresh BASE with one member set on object i, expects exactly one error there. */
static void expect_object_field_error(size_t i, const char *key, const char *text, const char *path,
                                      const char *needle)
{
    json_t *doc = load(BASE);
    set(obj(doc, i), key, text);
    struct run *r = filter(doc, 0, 0);
    expect_error(r, path, needle);
    ck_assert_msg(r->errors.total == 1, "%s=%s: %zu errors, wanted 1 (first: %s)", key,
                  text ? text : "(absent)", r->errors.total, r->errors.items[0].path);
    release(r, doc);
}

static void expect_ok_with(size_t i, const char *key, const char *text)
{
    json_t *doc = load(BASE);
    set(obj(doc, i), key, text);
    struct run *r = filter(doc, 0, 0);
    ck_assert_msg(r->rc == ROOMDOC_OK, "%s=%s rejected: %s: %s", key, text ? text : "(absent)",
                  r->errors.items[0].path, r->errors.items[0].message);
    release(r, doc);
}

START_TEST(test_names)
{
    ck_assert_int_eq(roomdoc_persist_parse("transient_held"), ROOMDOC_TRANSIENT_HELD);
    ck_assert_int_eq(roomdoc_persist_parse("placed_room"), ROOMDOC_PLACED_ROOM);
    ck_assert_int_eq(roomdoc_persist_parse("placed_saved"), ROOMDOC_PLACED_SAVED);
    ck_assert_int_eq(roomdoc_persist_parse("Placed_Saved"), -1);
    ck_assert_int_eq(roomdoc_persist_parse(""), -1);
    ck_assert_int_eq(roomdoc_persist_parse(NULL), -1);
    ck_assert_str_eq(roomdoc_persist_name(ROOMDOC_PLACED_ROOM), "placed_room");
    ck_assert_int_eq(roomdoc_tier_parse("high_rate_unreliable"), ROOMDOC_HIGH_RATE_UNRELIABLE);
    ck_assert_int_eq(roomdoc_tier_parse("reliable_on_change"), ROOMDOC_RELIABLE_ON_CHANGE);
    ck_assert_int_eq(roomdoc_tier_parse("snapshot_only"), ROOMDOC_SNAPSHOT_ONLY);
    ck_assert_int_eq(roomdoc_tier_parse("snapshot"), -1);
    ck_assert_str_eq(roomdoc_tier_name(ROOMDOC_SNAPSHOT_ONLY), "snapshot_only");
    ck_assert_str_eq(roomdoc_tier_name((enum roomdoc_tier)7), "unknown");
}
END_TEST

START_TEST(test_durable_rule)
{
    ck_assert(!roomdoc_is_durable(ROOMDOC_HIGH_RATE_UNRELIABLE, -1));
    ck_assert(roomdoc_is_durable(ROOMDOC_RELIABLE_ON_CHANGE, -1));
    ck_assert(roomdoc_is_durable(ROOMDOC_SNAPSHOT_ONLY, -1));
    ck_assert(roomdoc_is_durable(ROOMDOC_HIGH_RATE_UNRELIABLE, 1));
    ck_assert(!roomdoc_is_durable(ROOMDOC_RELIABLE_ON_CHANGE, 0));
    ck_assert(!roomdoc_is_durable(ROOMDOC_SNAPSHOT_ONLY, 0));
}
END_TEST

START_TEST(test_room_id_rule)
{
    static const char *const good[] = {"a", "Z", "7", "lobby", "A-b_c.d:e", "room:42.x-y_z"};
    static const char *const bad[] = {"",    "-a",    ".a",          "_a",   ":a",  "a/b",
                                      "a b", "a%2Fb", "caf\xc3\xa9", "a\nb", "a?b", "a#b"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(roomdoc_room_id_valid(good[i], strlen(good[i])), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!roomdoc_room_id_valid(bad[i], strlen(bad[i])), "'%s'", bad[i]);
    char id[130];
    memset(id, 'r', sizeof id);
    ck_assert(roomdoc_room_id_valid(id, 128));
    ck_assert(!roomdoc_room_id_valid(id, 129));
    ck_assert(!roomdoc_room_id_valid("a\0b", 3)); /* an embedded NUL is not cut away */
    ck_assert(!roomdoc_room_id_valid(NULL, 0));
}
END_TEST

START_TEST(test_persist_modes)
{
    json_t *doc = load(BASE);
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    ck_assert_int_eq(r->errors.count, 0);
    ck_assert_int_eq(r->stats.objects_saved, 1);
    ck_assert_int_eq(r->stats.dropped_placed_room, 1);
    ck_assert_int_eq(r->stats.dropped_transient_held, 1);
    json_t *objs = json_object_get(r->stored, "objects");
    ck_assert_int_eq(json_array_size(objs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(obj(r->stored, 0), "object_id")),
                     "crate-17");
    ck_assert_int_eq(json_object_size(r->stored), 2);
    release(r, doc);
}
END_TEST

START_TEST(test_order_kept)
{
    json_t *doc = load(BASE);
    json_t *objs = json_object_get(doc, "objects");
    for (int i = 0; i < 5; i++) {
        json_t *c = json_deep_copy(obj(doc, 0));
        char id[16];
        snprintf(id, sizeof id, "copy-%d", i);
        json_object_set_new(c, "object_id", json_string(id));
        json_array_insert_new(objs, 1, c); /* copy-4 … copy-0 after crate-17 */
    }
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    ck_assert_int_eq(r->stats.objects_saved, 6);
    static const char *const want[] = {"crate-17", "copy-4", "copy-3",
                                       "copy-2",   "copy-1", "copy-0"};
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(json_string_value(json_object_get(obj(r->stored, i), "object_id")),
                         want[i]);
    release(r, doc);
}
END_TEST

START_TEST(test_durable_defaults_and_overrides)
{
    json_t *doc = load(BASE);
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_t *props = json_object_get(obj(r->stored, 0), "properties");
    /* defaults: reliable_on_change and snapshot_only kept, high_rate_unreliable dropped */
    ck_assert_str_eq(json_string_value(json_object_get(props, "color")), "#ff0000");
    ck_assert_str_eq(json_string_value(json_object_get(props, "label")), "tools");
    ck_assert_ptr_null(json_object_get(props, "wobble"));
    /* overrides: durable false drops a reliable one, durable true keeps a high-rate one */
    ck_assert_ptr_null(json_object_get(props, "highlight"));
    ck_assert_int_eq(json_integer_value(json_object_get(props, "charge")), 7);
    ck_assert(json_is_null(json_object_get(props, "note"))); /* a null value is a value */
    ck_assert_int_eq(json_object_size(props), 4);
    ck_assert_int_eq(r->stats.non_durable_properties, 2);
    release(r, doc);
}
END_TEST

START_TEST(test_stored_fields)
{
    json_t *doc = load(BASE);
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_t *o = obj(r->stored, 0);
    ck_assert(json_is_null(json_object_get(o, "owner_id")));
    ck_assert(json_is_null(json_object_get(o, "held_by")));
    ck_assert(json_is_true(json_object_get(o, "placed")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 42);
    ck_assert_str_eq(json_string_value(json_object_get(o, "manifest_id")), "crate_v1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "persist_mode")), "placed_saved");
    /* other fields as sent */
    ck_assert(json_equal(json_object_get(o, "extra"), json_object_get(obj(doc, 0), "extra")));
    json_t *tr = json_object_get(o, "transform");
    ck_assert_int_eq(json_object_size(tr), 3); /* position, rotation, scale only */
    ck_assert_ptr_null(json_object_get(tr, "velocity"));
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(tr, "scale"), 0)), 2);
    ck_assert(json_real_value(json_array_get(json_object_get(tr, "position"), 1)) == 0.5);
    /* only the manifests that stored objects use, each as sent */
    json_t *ms = json_object_get(r->stored, "manifests");
    ck_assert_int_eq(json_object_size(ms), 1);
    ck_assert(json_equal(json_object_get(ms, "crate_v1"),
                         json_object_get(json_object_get(doc, "manifests"), "crate_v1")));
    /* the body is not modified by the filter */
    json_t *fresh = load(BASE);
    ck_assert(json_equal(doc, fresh));
    json_decref(fresh);
    release(r, doc);
}
END_TEST

START_TEST(test_defaults_when_absent)
{
    json_t *doc = load(BASE);
    json_t *o = obj(doc, 0);
    set(o, "seq", NULL);
    set(o, "owner_id", NULL);
    set(o, "held_by", NULL);
    set(o, "placed", NULL);
    set(o, "properties", NULL);
    set(o, "transform", "{\"position\": [0, 0, 0], \"rotation\": [0, 0, 0, 1]}");
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_t *s = obj(r->stored, 0);
    ck_assert(json_is_integer(json_object_get(s, "seq")));
    ck_assert_int_eq(json_integer_value(json_object_get(s, "seq")), 0);
    ck_assert(json_is_null(json_object_get(s, "owner_id")));
    ck_assert(json_is_null(json_object_get(s, "held_by")));
    ck_assert(json_is_true(json_object_get(s, "placed")));
    ck_assert_int_eq(json_object_size(json_object_get(s, "properties")), 0);
    json_t *want = load("[1, 1, 1]");
    ck_assert(json_equal(json_object_get(json_object_get(s, "transform"), "scale"), want));
    json_decref(want);
    release(r, doc);
}
END_TEST

START_TEST(test_only_used_manifests)
{
    json_t *doc = load(BASE);
    set(obj(doc, 0), "persist_mode", "\"placed_room\"");
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    ck_assert_int_eq(r->stats.objects_saved, 0);
    ck_assert_int_eq(r->stats.dropped_placed_room, 2);
    ck_assert_int_eq(r->stats.non_durable_properties, 0); /* only of stored objects */
    ck_assert_int_eq(json_object_size(json_object_get(r->stored, "manifests")), 0);
    ck_assert_int_eq(json_array_size(json_object_get(r->stored, "objects")), 0);
    release(r, doc);
}
END_TEST

START_TEST(test_empty_document)
{
    json_t *doc = load("{\"manifests\": {}, \"objects\": [], \"ignored\": 1}");
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_t *want = load("{\"manifests\": {}, \"objects\": []}");
    ck_assert(json_equal(r->stored, want));
    json_decref(want);
    release(r, doc);
}
END_TEST

START_TEST(test_undeclared_property)
{
    expect_object_field_error(0, "properties", "{\"color\": \"#fff\", \"smell\": \"pine\"}",
                              "objects[0].properties.smell",
                              "property 'smell' is not declared by manifest 'crate_v1'");
    /* keys that are not identifiers are quoted in the path */
    expect_object_field_error(0, "properties", "{\"a.b\": 1}", "objects[0].properties[\"a.b\"]",
                              "not declared");
    /* not placed_saved: not stored, so not checked against the manifest */
    expect_ok_with(1, "properties", "{\"smell\": \"pine\"}");
}
END_TEST

START_TEST(test_unknown_manifest)
{
    expect_object_field_error(0, "manifest_id", "\"crate_v2\"", "objects[0].manifest_id",
                              "unknown manifest 'crate_v2'");
    expect_object_field_error(0, "manifest_id", NULL, "objects[0].manifest_id", "required");
    expect_object_field_error(0, "manifest_id", "7", "objects[0].manifest_id", "must be a string");
    /* other modes: type only */
    expect_ok_with(1, "manifest_id", "\"crate_v2\"");
    expect_ok_with(1, "manifest_id", NULL);
    expect_object_field_error(1, "manifest_id", "[]", "objects[1].manifest_id", "must be a string");
}
END_TEST

START_TEST(test_duplicate_ids)
{
    json_t *doc = load(BASE);
    set(obj(doc, 2), "object_id", "\"crate-17\"");
    struct run *r = filter(doc, 0, 0);
    expect_error(r, "objects[2].object_id", "duplicate object_id 'crate-17'");
    expect_error(r, "objects[2].object_id", "objects[0]");
    ck_assert_int_eq(r->errors.total, 1);
    release(r, doc);
}
END_TEST

START_TEST(test_object_id_rule)
{
    expect_object_field_error(0, "object_id", NULL, "objects[0].object_id", "required");
    expect_object_field_error(0, "object_id", "\"\"", "objects[0].object_id", "1 to 128 bytes");
    expect_object_field_error(0, "object_id", "17", "objects[0].object_id", "must be a string");
    expect_object_field_error(2, "object_id", "null", "objects[2].object_id", "must be a string");
    char text[140];
    text[0] = '"';
    memset(text + 1, 'x', 128);
    memcpy(text + 129, "\"", 2);
    expect_ok_with(0, "object_id", text);
    memcpy(text + 129, "x\"", 3);
    expect_object_field_error(0, "object_id", text, "objects[0].object_id", "(got 129)");
}
END_TEST

START_TEST(test_bad_transforms)
{
    const char *path = "objects[0].transform.position";
    expect_object_field_error(0, "transform", "{\"position\": [1, 2], \"rotation\": [0,0,0,1]}",
                              path, "exactly 3 finite numbers");
    expect_object_field_error(
        0, "transform", "{\"position\": [1, 2, 3, 4], \"rotation\": [0,0,0,1]}", path, "exactly 3");
    expect_object_field_error(0, "transform",
                              "{\"position\": [1, \"2\", 3], \"rotation\": [0,0,0,1]}", path,
                              "exactly 3");
    expect_object_field_error(0, "transform", "{\"position\": {}, \"rotation\": [0,0,0,1]}", path,
                              "exactly 3");
    expect_object_field_error(0, "transform", "{\"rotation\": [0,0,0,1]}", path, "required");
    expect_object_field_error(0, "transform", "{\"position\": [1,2,3], \"rotation\": [0,0,1]}",
                              "objects[0].transform.rotation", "exactly 4");
    expect_object_field_error(0, "transform", "{\"position\": [1,2,3], \"rotation\": null}",
                              "objects[0].transform.rotation", "exactly 4");
    expect_object_field_error(0, "transform", "{\"position\": [1,2,3]}",
                              "objects[0].transform.rotation", "required");
    expect_object_field_error(0, "transform",
                              "{\"position\": [1,2,3], \"rotation\": [0,0,0,1], \"scale\": 1}",
                              "objects[0].transform.scale", "exactly 3");
    expect_object_field_error(
        0, "transform", "{\"position\": [1,2,3], \"rotation\": [0,0,0,1], \"scale\": [1,1,true]}",
        "objects[0].transform.scale", "exactly 3");
    expect_object_field_error(0, "transform", NULL, "objects[0].transform", "required");
    expect_object_field_error(0, "transform", "[1,2,3]", "objects[0].transform",
                              "must be an object");
    /* large and negative numbers, integers and reals are all numbers */
    expect_ok_with(0, "transform",
                   "{\"position\": [-1e300, 0, 3], \"rotation\": [0.5, -0.5, 0.5, -0.5]}");
    /* objects that are not placed_saved: type only, when present */
    expect_ok_with(1, "transform", NULL);
    expect_ok_with(1, "transform", "{}");
    expect_object_field_error(1, "transform", "{\"position\": [1]}",
                              "objects[1].transform.position", "exactly 3");
    expect_object_field_error(2, "transform", "\"up\"", "objects[2].transform",
                              "must be an object");
}
END_TEST

START_TEST(test_wrong_types)
{
    expect_object_field_error(0, "persist_mode", "\"saved\"", "objects[0].persist_mode",
                              "unknown persist_mode 'saved'");
    expect_object_field_error(0, "persist_mode", "3", "objects[0].persist_mode", "an integer");
    expect_object_field_error(0, "persist_mode", NULL, "objects[0].persist_mode", "required");
    expect_object_field_error(0, "seq", "-1", "objects[0].seq", "non-negative integer");
    expect_object_field_error(0, "seq", "1.5", "objects[0].seq", "non-negative integer");
    expect_object_field_error(0, "seq", "\"3\"", "objects[0].seq", "non-negative integer");
    expect_object_field_error(2, "seq", "null", "objects[2].seq", "non-negative integer");
    expect_ok_with(0, "seq", "0");
    expect_ok_with(0, "seq", "9007199254740993");
    expect_object_field_error(0, "owner_id", "5", "objects[0].owner_id", "string or null");
    expect_object_field_error(1, "held_by", "true", "objects[1].held_by", "string or null");
    expect_ok_with(0, "owner_id", "null");
    expect_ok_with(1, "held_by", "\"someone\"");
    expect_object_field_error(0, "placed", "\"yes\"", "objects[0].placed", "boolean");
    expect_object_field_error(2, "placed", "1", "objects[2].placed", "boolean");
    expect_object_field_error(0, "properties", "[]", "objects[0].properties", "must be an object");
    expect_object_field_error(2, "properties", "\"x\"", "objects[2].properties",
                              "must be an object");

    json_t *doc = load("{\"manifests\": {}, \"objects\": [1, null, \"o\", []]}");
    struct run *r = filter(doc, 0, 0);
    expect_error(r, "objects[0]", "not an integer");
    expect_error(r, "objects[1]", "not null");
    expect_error(r, "objects[3]", "not an array");
    ck_assert_int_eq(r->errors.total, 4);
    release(r, doc);
}
END_TEST

START_TEST(test_document_shape)
{
    static const struct {
        const char *text, *path, *needle;
    } cases[] = {
        {"[]", "", "must be a JSON object"},
        {"\"doc\"", "", "must be a JSON object"},
        {"null", "", "must be a JSON object"},
        {"{\"objects\": []}", "manifests", "required"},
        {"{\"manifests\": {}}", "objects", "required"},
        {"{\"manifests\": [], \"objects\": []}", "manifests", "must be an object"},
        {"{\"manifests\": {}, \"objects\": {}}", "objects", "must be an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_error_t err;
        json_t *doc = json_loads(cases[i].text, JSON_DECODE_ANY, &err);
        ck_assert_ptr_nonnull(doc);
        struct run *r = filter(doc, 0, 0);
        expect_error(r, cases[i].path, cases[i].needle);
        release(r, doc);
    }
    /* both members wrong: both reported */
    json_t *doc = load("{\"manifests\": 1, \"objects\": 2}");
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->errors.total, 2);
    release(r, doc);
    /* and NULL errors / stats are allowed */
    json_t *stored = (json_t *)1;
    ck_assert_int_eq(roomdoc_filter(NULL, NULL, &stored, NULL, NULL), ROOMDOC_INVALID);
    ck_assert_ptr_null(stored);
}
END_TEST

START_TEST(test_manifest_rules)
{
    static const struct {
        const char *manifest, *path, *needle;
    } cases[] = {
        {"[]", "manifests.m", "must be an object"},
        {"{}", "manifests.m.properties", "required"},
        {"{\"properties\": []}", "manifests.m.properties", "must be an object"},
        {"{\"properties\": {\"p\": \"snapshot_only\"}}", "manifests.m.properties.p",
         "must be an object"},
        {"{\"properties\": {\"p\": {}}}", "manifests.m.properties.p.tier", "required"},
        {"{\"properties\": {\"p\": {\"tier\": \"fast\"}}}", "manifests.m.properties.p.tier",
         "unknown tier 'fast'"},
        {"{\"properties\": {\"p\": {\"tier\": 1}}}", "manifests.m.properties.p.tier",
         "must be a string, not an integer"},
        {"{\"properties\": {\"p\": {\"tier\": \"snapshot_only\", \"durable\": \"yes\"}}}",
         "manifests.m.properties.p.durable", "must be a boolean"},
        {"{\"properties\": {\"p\": {\"tier\": \"snapshot_only\", \"durable\": null}}}",
         "manifests.m.properties.p.durable", "must be a boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *doc = load(BASE);
        set(json_object_get(doc, "manifests"), "m", cases[i].manifest);
        struct run *r = filter(doc, 0, 0);
        expect_error(r, cases[i].path, cases[i].needle);
        ck_assert_int_eq(r->errors.total, 1); /* unused manifests are validated too */
        release(r, doc);
    }
    /* a manifest id that is not an identifier is quoted in the path */
    json_t *doc = load(BASE);
    set(json_object_get(doc, "manifests"), "chair.v3", "{}");
    struct run *r = filter(doc, 0, 0);
    expect_error(r, "manifests[\"chair.v3\"].properties", "required");
    release(r, doc);
    /* extra members of a manifest and of a declaration are allowed and kept */
    doc = load(BASE);
    json_t *m = json_object_get(json_object_get(doc, "manifests"), "crate_v1");
    set(m, "version", "3");
    set(json_object_get(json_object_get(m, "properties"), "color"), "doc", "\"hex\"");
    r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    ck_assert(json_equal(json_object_get(json_object_get(r->stored, "manifests"), "crate_v1"), m));
    release(r, doc);
}
END_TEST

START_TEST(test_limit_objects)
{
    json_t *doc = load(BASE); /* 3 objects */
    struct run *r = filter(doc, 3, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    r = filter(doc, 2, 0);
    expect_error(r, "objects", "too many objects: 3 (the limit is 2)");
    release(r, doc);
    /* the default is 10,000 */
    doc = load("{\"manifests\": {}, \"objects\": []}");
    json_t *objs = json_object_get(doc, "objects");
    for (int i = 0; i < 10001; i++) {
        char id[24];
        snprintf(id, sizeof id, "o%d", i);
        json_array_append_new(
            objs, json_pack("{s:s, s:s}", "object_id", id, "persist_mode", "placed_room"));
    }
    r = filter(doc, 0, 0);
    expect_error(r, "objects", "the limit is 10000");
    json_array_remove(objs, 0);
    r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    ck_assert_int_eq(r->stats.dropped_placed_room, 10000);
    release(r, doc);
}
END_TEST

static json_t *nested(size_t depth)
{
    json_t *v = json_integer(1);
    for (size_t i = 0; i < depth; i++)
        v = (i % 2) ? json_pack("{s:o}", "k", v) : json_pack("[o]", v);
    return v;
}

START_TEST(test_limit_depth)
{
    json_t *doc = load(BASE);
    json_t *props = json_object_get(obj(doc, 0), "properties");
    json_object_set_new(props, "label", nested(2));
    struct run *r = filter(doc, 0, 2);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_object_set_new(props, "label", nested(3));
    r = filter(doc, 0, 2);
    expect_error(r, "objects[0].properties.label", "deeper than the limit of 2");
    /* default 32 */
    json_object_set_new(props, "label", nested(32));
    r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_OK);
    json_object_set_new(props, "label", nested(33));
    r = filter(doc, 0, 0);
    expect_error(r, "objects[0].properties.label", "limit of 32");
    /* a non-durable value and an object that is not stored are limited too */
    json_object_set_new(props, "label", json_string("ok"));
    json_object_set_new(props, "wobble", nested(40));
    set(obj(doc, 2), "properties", "{\"x\": [[[[1]]]]}");
    r = filter(doc, 0, 3);
    expect_error(r, "objects[0].properties.wobble", "limit of 3");
    expect_error(r, "objects[2].properties.x", "limit of 3");
    ck_assert_int_eq(r->errors.total, 2);
    release(r, doc);
}
END_TEST

START_TEST(test_every_error_reported)
{
    json_t *doc = load(BASE);
    set(obj(doc, 0), "manifest_id", "\"nope\"");
    set(obj(doc, 1), "persist_mode", "\"flying\"");
    set(obj(doc, 2), "object_id", "\"crate-17\"");
    set(obj(doc, 2), "placed", "0");
    set(json_object_get(json_object_get(json_object_get(doc, "manifests"), "unused_v1"),
                        "properties"),
        "y", "{\"tier\": \"warp\"}");
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->errors.total, 5);
    ck_assert_int_eq(r->errors.count, 5);
    expect_error(r, "objects[0].manifest_id", "unknown manifest 'nope'");
    expect_error(r, "objects[1].persist_mode", "flying");
    expect_error(r, "objects[2].object_id", "duplicate");
    expect_error(r, "objects[2].placed", "boolean");
    expect_error(r, "manifests.unused_v1.properties.y.tier", "warp");
    release(r, doc);

    /* more than ROOMDOC_MAX_ERRORS: the first 64 recorded, all counted */
    doc = load("{\"manifests\": {}, \"objects\": []}");
    json_t *objs = json_object_get(doc, "objects");
    for (int i = 0; i < 100; i++)
        json_array_append_new(
            objs, json_pack("{s:i, s:s}", "object_id", i, "persist_mode", "placed_room"));
    r = filter(doc, 0, 0);
    ck_assert_int_eq(r->errors.total, 100);
    ck_assert_int_eq(r->errors.count, ROOMDOC_MAX_ERRORS);
    ck_assert_str_eq(r->errors.items[0].path, "objects[0].object_id");
    ck_assert_str_eq(r->errors.items[63].path, "objects[63].object_id");
    release(r, doc);
}
END_TEST

/* Paths and messages stay valid UTF-8 and bounded with long, multi-byte keys and values. */
START_TEST(test_long_text_stays_valid)
{
    json_t *doc = load(BASE);
    char key[601] = {0};
    for (int i = 0; i < 300; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2); /* é */
    json_object_set_new(json_object_get(obj(doc, 0), "properties"), key, json_integer(1));
    set(obj(doc, 0), "manifest_id", NULL);
    json_object_set_new(obj(doc, 1), "persist_mode", json_string(key));
    struct run *r = filter(doc, 0, 0);
    ck_assert_int_eq(r->rc, ROOMDOC_INVALID);
    for (size_t i = 0; i < r->errors.count; i++) {
        json_t *p = json_string(r->errors.items[i].path);
        json_t *m = json_string(r->errors.items[i].message);
        ck_assert_msg(p && m, "error %zu is not valid UTF-8", i);
        ck_assert(strlen(r->errors.items[i].path) < sizeof r->errors.items[i].path);
        json_decref(p);
        json_decref(m);
    }
    expect_error(r, "objects[1].persist_mode", "...");
    /* manifest_id missing on a placed_saved object: properties cannot be checked */
    ck_assert_int_eq(r->errors.total, 2);
    release(r, doc);

    doc = load(BASE);
    json_object_set_new(json_object_get(obj(doc, 0), "properties"), key, json_integer(1));
    r = filter(doc, 0, 0);
    ck_assert_int_eq(r->errors.total, 1);
    const char *p = r->errors.items[0].path;
    ck_assert(strncmp(p, "objects[0].properties[\"\xc3\xa9", 25) == 0);
    json_t *ps = json_string(p);
    ck_assert_ptr_nonnull(ps);
    json_decref(ps);
    release(r, doc);
}
END_TEST

static Suite *roomdoc_suite(void)
{
    Suite *s = suite_create("roomdoc");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_durable_rule);
    tcase_add_test(tc, test_room_id_rule);
    tcase_add_test(tc, test_persist_modes);
    tcase_add_test(tc, test_order_kept);
    tcase_add_test(tc, test_durable_defaults_and_overrides);
    tcase_add_test(tc, test_stored_fields);
    tcase_add_test(tc, test_defaults_when_absent);
    tcase_add_test(tc, test_only_used_manifests);
    tcase_add_test(tc, test_empty_document);
    tcase_add_test(tc, test_undeclared_property);
    tcase_add_test(tc, test_unknown_manifest);
    tcase_add_test(tc, test_duplicate_ids);
    tcase_add_test(tc, test_object_id_rule);
    tcase_add_test(tc, test_bad_transforms);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_document_shape);
    tcase_add_test(tc, test_manifest_rules);
    tcase_add_test(tc, test_limit_objects);
    tcase_add_test(tc, test_limit_depth);
    tcase_add_test(tc, test_every_error_reported);
    tcase_add_test(tc, test_long_text_stays_valid);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(roomdoc_suite)
