/* test_roomscan.c — common/roomscan (the save fast path) against the reference
 * (json_loadb with JSON_REJECT_DUPLICATES + roomdoc_filter) on many documents: generated
 * valid ones (compact, indented, ASCII-escaped), each rule broken in turn, random byte
 * mutations, examples/room.json and the generated tests/fixtures/payload documents.
 * Whenever the fast path says OK the reference must say OK with the same stats and an equal
 * stored document (key order aside); whenever it falls back, nothing is returned.
 * ROOMSCAN_FUZZ_ITERATIONS=N runs more byte mutations than the default 3000 (with
 * CK_TIMEOUT_MULTIPLIER for long runs); ROOMSCAN_FUZZ_SEED=S starts the generator elsewhere. */
#include "common/roomdoc.h"
#include "common/roomscan.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally {
    size_t n, fast, ref_ok, ok_fallback;
};

static void compare(const char *text, size_t len, const struct roomdoc_limits *lim, struct tally *t)
{
    static struct roomdoc_errors errs;
    json_error_t err;
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    json_t *stored = NULL;
    struct roomdoc_stats rs = {0}, fs = {0};
    enum roomdoc_result rr = ROOMDOC_INVALID;
    if (body)
        rr = roomdoc_filter(body, lim, &stored, &rs, &errs);
    char *doc = NULL;
    size_t dl = 0;
    enum roomscan_result fr = roomscan_filter(text, len, lim, &doc, &dl, &fs);
    ck_assert_int_ne(fr, ROOMSCAN_NOMEM);
    t->n++;
    if (body && rr == ROOMDOC_OK)
        t->ref_ok++;
    if (fr == ROOMSCAN_OK) {
        ck_assert_msg(body && rr == ROOMDOC_OK,
                      "fast path accepted what the reference refuses (%s): %.300s",
                      body ? "document" : err.text, text);
        ck_assert_msg(memcmp(&fs, &rs, sizeof fs) == 0, "stats differ: %.300s", text);
        ck_assert_uint_eq(strlen(doc), dl);
        json_t *got = json_loadb(doc, dl, JSON_REJECT_DUPLICATES, &err);
        ck_assert_msg(got != NULL, "stored document is not JSON: %s: %.300s", err.text, doc);
        ck_assert_msg(json_equal(got, stored), "stored documents differ: %.400s", doc);
        json_decref(got);
        t->fast++;
    } else {
        ck_assert_int_eq(fr, ROOMSCAN_FALLBACK);
        ck_assert_ptr_null(doc);
        if (body && rr == ROOMDOC_OK)
            t->ok_fallback++;
    }
    free(doc);
    json_decref(stored);
    json_decref(body);
}

/* ---- a deterministic generator of room documents ---- */

static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const tiers[] = {"high_rate_unreliable", "reliable_on_change", "snapshot_only"};
static const char *const modes[] = {"transient_held", "placed_room", "placed_saved"};

static json_t *any_value(int depth)
{
    switch (rnd(depth > 0 ? 9 : 6)) {
    case 0:
        return json_integer((json_int_t)rnd(100000) - 500);
    case 1:
        return json_real((double)rnd(100000) / 997.0 - 3.0);
    case 2:
        return json_string(rnd(2) ? "plain" : "esc \"q\" \\ /\n\t caf\xc3\xa9 \xe2\x9c\x93");
    case 3:
        return rnd(2) ? json_true() : json_false();
    case 4:
        return json_null();
    case 5:
        return json_string("");
    case 6:
    case 7: {
        json_t *a = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(a, any_value(depth - 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        char k[8];
        for (unsigned i = rnd(4); i > 0; i--) {
            snprintf(k, sizeof k, "k%u", i);
            json_object_set_new(o, k, any_value(depth - 1));
        }
        return o;
    }
    }
}

static json_t *vec(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, rnd(3) ? json_real((double)rnd(2000) / 100.0 - 10)
                                        : json_integer((json_int_t)rnd(5)));
    return a;
}

enum bad { BAD_NONE = 0, BAD_COUNT = 24 };

/* A document; bad (1..BAD_COUNT-1) breaks one rule (somewhere, if it can). */
static json_t *gen_doc(int bad)
{
    json_t *doc = json_object(), *ms = json_object(), *objs = json_array();
    unsigned nm = 1 + rnd(4), np[4];
    char name[160];
    for (unsigned i = 0; i < nm; i++) {
        json_t *m = json_object(), *props = json_object();
        np[i] = rnd(6);
        for (unsigned j = 0; j < np[i]; j++) {
            json_t *d = json_pack("{s:s}", "tier", tiers[rnd(3)]);
            if (rnd(3) == 0)
                json_object_set_new(d, "durable", rnd(2) ? json_true() : json_false());
            snprintf(name, sizeof name, "p%u", j);
            json_object_set_new(props, name, d);
        }
        json_object_set_new(m, "properties", props);
        if (rnd(4) == 0)
            json_object_set_new(m, "label", json_string("a manifest"));
        snprintf(name, sizeof name, i == 3 ? "m\xc3\xa9%u" : "m%u", i);
        json_object_set_new(ms, name, m);
    }
    unsigned no = rnd(25);
    for (unsigned i = 0; i < no; i++) {
        json_t *o = json_object(), *tr = json_object(), *props = json_object();
        unsigned mi = rnd(nm);
        snprintf(name, sizeof name, "obj-%u", i);
        json_object_set_new(o, "object_id", json_string(name));
        json_object_set_new(o, "persist_mode", json_string(modes[rnd(3)]));
        snprintf(name, sizeof name, mi == 3 ? "m\xc3\xa9%u" : "m%u", mi);
        if (rnd(8))
            json_object_set_new(o, "manifest_id", json_string(name));
        json_object_set_new(tr, "position", vec(3));
        json_object_set_new(tr, "rotation", vec(4));
        if (rnd(2))
            json_object_set_new(tr, "scale", vec(3));
        if (rnd(5) == 0)
            json_object_set_new(tr, "skew", json_integer(1));
        if (rnd(10))
            json_object_set_new(o, "transform", tr);
        else
            json_decref(tr);
        for (unsigned j = 0; j < np[mi]; j++)
            if (rnd(3)) {
                snprintf(name, sizeof name, "p%u", j);
                json_object_set_new(props, name, any_value(3));
            }
        if (rnd(8))
            json_object_set_new(o, "properties", props);
        else
            json_decref(props);
        if (rnd(2))
            json_object_set_new(o, "seq", json_integer((json_int_t)rnd(1000)));
        if (rnd(2))
            json_object_set_new(o, "owner_id", rnd(2) ? json_string("u1") : json_null());
        if (rnd(2))
            json_object_set_new(o, "held_by", rnd(2) ? json_string("u2") : json_null());
        if (rnd(2))
            json_object_set_new(o, "placed", rnd(2) ? json_true() : json_false());
        if (rnd(3) == 0)
            json_object_set_new(o, "color", json_string("red"));
        json_array_append_new(objs, o);
    }
    json_object_set_new(doc, "manifests", ms);
    json_object_set_new(doc, "objects", objs);
    if (rnd(4) == 0)
        json_object_set_new(doc, "note", json_string("extra top-level member"));
    if (!bad)
        return doc;
    json_t *o = no ? json_array_get(objs, rnd(no)) : NULL;
    json_t *m = json_object_iter_value(json_object_iter(ms));
    json_t *tr = o ? json_object_get(o, "transform") : NULL;
    json_t *deep = json_integer(1);
    switch (bad) {
    case 1:
        if (o)
            json_object_set_new(o, "manifest_id", json_string("nope"));
        break;
    case 2:
        if (o)
            json_object_set_new(json_object_get(o, "properties") ? json_object_get(o, "properties")
                                                                 : o,
                                "undeclared", json_integer(1));
        break;
    case 3:
        if (o)
            json_object_set_new(o, "persist_mode", json_string("floating"));
        break;
    case 4:
        if (o)
            json_object_del(o, "object_id");
        break;
    case 5:
        if (o)
            json_object_set_new(o, "object_id", json_string(""));
        break;
    case 6:
        memset(name, 'x', 129);
        name[129] = '\0';
        if (o)
            json_object_set_new(o, "object_id", json_string(name));
        break;
    case 7:
        if (o)
            json_object_set_new(o, "object_id", json_string("obj-0"));
        break;
    case 8:
        if (tr)
            json_object_set_new(tr, "position", vec(2));
        break;
    case 9:
        if (tr)
            json_array_set_new(json_object_get(tr, "rotation"), 1, json_string("x"));
        break;
    case 10:
        if (tr)
            json_object_set_new(tr, "scale", vec(4));
        break;
    case 11:
        if (o)
            json_object_set_new(o, "seq", json_integer(-3));
        break;
    case 12:
        if (o)
            json_object_set_new(o, "seq", json_real(2.5));
        break;
    case 13:
        if (o)
            json_object_set_new(o, "owner_id", json_integer(7));
        break;
    case 14:
        if (o)
            json_object_set_new(o, "placed", json_string("yes"));
        break;
    case 15:
        if (o)
            json_object_set_new(o, "properties", json_array());
        break;
    case 16:
        if (o)
            json_object_set_new(o, "transform", json_array());
        break;
    case 17:
        json_object_del(m, "properties");
        break;
    case 18:
        json_object_set_new(m, "properties", json_pack("{s:{s:s}}", "p0", "tier", "sometimes"));
        break;
    case 19:
        json_object_set_new(
            m, "properties",
            json_pack("{s:{s:s, s:s}}", "p0", "tier", "snapshot_only", "durable", "no"));
        break;
    case 20:
        for (int i = 0; i < 40; i++)
            deep = json_pack("[o]", deep);
        if (o)
            json_object_set_new(json_object_get(o, "properties") ? json_object_get(o, "properties")
                                                                 : o,
                                "p0", json_incref(deep));
        break;
    case 21:
        json_object_set_new(doc, "objects", json_object());
        break;
    case 22:
        json_object_set_new(doc, "manifests", json_array());
        break;
    default:
        if (o)
            json_array_append_new(objs, json_string("not an object"));
        break;
    }
    json_decref(deep);
    return doc;
}

static char *dump(json_t *doc, size_t *len)
{
    static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), JSON_COMPACT | JSON_ENSURE_ASCII,
                                   JSON_COMPACT | JSON_SORT_KEYS, 0};
    char *s = json_dumps(doc, flags[rnd(5)]);
    ck_assert_ptr_nonnull(s);
    *len = strlen(s);
    return s;
}

START_TEST(test_generated_valid)
{
    struct tally t = {0};
    struct roomdoc_limits lim = {.max_objects = 10000, .max_value_depth = 32};
    for (int i = 0; i < 1500; i++) {
        json_t *doc = gen_doc(BAD_NONE);
        size_t len;
        char *s = dump(doc, &len);
        compare(s, len, &lim, &t);
        free(s);
        json_decref(doc);
    }
    ck_assert_uint_eq(t.n, 1500);
    /* most valid documents are decided by the fast path (others: e.g. a manifest id or
     * tier written with \u escapes under JSON_ENSURE_ASCII) */
    ck_assert_msg(t.fast * 10 >= t.ref_ok * 6, "fast %zu of %zu valid", t.fast, t.ref_ok);
}
END_TEST

START_TEST(test_generated_invalid)
{
    struct tally t = {0};
    struct roomdoc_limits lim = {.max_objects = 10000, .max_value_depth = 32};
    for (int bad = 1; bad < BAD_COUNT; bad++)
        for (int i = 0; i < 60; i++) {
            json_t *doc = gen_doc(bad);
            size_t len;
            char *s = dump(doc, &len);
            compare(s, len, &lim, &t);
            free(s);
            json_decref(doc);
        }
    /* and the object limit */
    lim.max_objects = 3;
    for (int i = 0; i < 100; i++) {
        json_t *doc = gen_doc(BAD_NONE);
        size_t len;
        char *s = dump(doc, &len);
        compare(s, len, &lim, &t);
        free(s);
        json_decref(doc);
    }
    ck_assert_uint_lt(t.ref_ok, t.n); /* the broken rules were caught by the reference */
}
END_TEST

START_TEST(test_byte_mutations)
{
    static const char pool[] = "{}[]\",:\\ 0123456789.eE+-tfnu\x01\x7f\xc3\xa9\xff\xed\xa0";
    struct tally t = {0};
    struct roomdoc_limits lim = {.max_objects = 10000, .max_value_depth = 32};
    const char *env = getenv("ROOMSCAN_FUZZ_ITERATIONS"), *seed = getenv("ROOMSCAN_FUZZ_SEED");
    long iterations = env ? strtol(env, NULL, 10) : 3000;
    if (seed && strtoull(seed, NULL, 10) != 0)
        rng = strtoull(seed, NULL, 10); /* xorshift: any non-zero state */
    for (long i = 0; i < iterations; i++) {
        json_t *doc = gen_doc(BAD_NONE);
        size_t len;
        char *s = dump(doc, &len);
        /* up to 3 edits, each adding at most 40 bytes (a duplicated range), plus the NUL
         * (2 * len + 16 was too small for short documents: found by a longer run) */
        char *m = malloc(len + 3 * 40 + 16);
        ck_assert_ptr_nonnull(m);
        memcpy(m, s, len);
        size_t n = len;
        for (unsigned k = 1 + rnd(3); k > 0 && n > 0; k--) {
            size_t at = rnd((unsigned)n);
            switch (rnd(4)) {
            case 0: /* replace a byte */
                m[at] = pool[rnd(sizeof pool - 1)];
                break;
            case 1: /* delete a short range */
            {
                size_t d = 1 + rnd(8);
                if (d > n - at)
                    d = n - at;
                memmove(m + at, m + at + d, n - at - d);
                n -= d;
                break;
            }
            case 2: /* duplicate a short range (duplicate keys, stray tokens) */
            {
                size_t d = 1 + rnd(40);
                if (d > n - at)
                    d = n - at;
                if (d > len)
                    d = len;
                memmove(m + at + d, m + at, n - at);
                n += d;
                break;
            }
            default: /* insert a byte */
                memmove(m + at + 1, m + at, n - at);
                m[at] = pool[rnd(sizeof pool - 1)];
                n++;
                break;
            }
        }
        m[n] = '\0'; /* the sentinel roomscan_filter requires */
        compare(m, n, &lim, &t);
        free(m);
        free(s);
        json_decref(doc);
    }
    ck_assert_uint_eq(t.n, (size_t)(iterations > 0 ? iterations : 0));
}
END_TEST

START_TEST(test_edge_texts)
{
    static const char *const texts[] = {
        "",
        " ",
        "{}",
        "[]",
        "null",
        "\"x\"",
        "{\"manifests\":{},\"objects\":[]}",
        " \n{\"manifests\" : { } , \"objects\" : [ ] }\n ",
        "{\"manifests\":{},\"objects\":[]} x",
        "{\"manifests\":{},\"objects\":[],}",
        "{\"manifests\":{},\"manifests\":{},\"objects\":[]}",
        "{\"manifests\":{},\"objects\":[],\"n\":123456789012345678901234567890}",
        "{\"manifests\":{},\"objects\":[],\"n\":1e400}",
        "{\"manifests\":{},\"objects\":[],\"n\":1e-400}",
        "{\"manifests\":{},\"objects\":[],\"n\":-0}",
        "{\"manifests\":{},\"objects\":[],\"n\":01}",
        "{\"manifests\":{},\"objects\":[],\"n\":\"\\u0000\"}",
        "{\"manifests\":{},\"objects\":[],\"n\":\"\\ud83d\\ude00\"}",
        "{\"manifests\":{},\"objects\":[],\"n\":\"\\ud83d\"}",
        "{\"manifests\":{},\"objects\":[],\"\\u006e\":1,\"n\":2}",
        "{\"manifests\":{},\"objects\":[{\"object_id\":\"a\",\"persist_mode\":\"placed_room\"}]}",
        "{\"manifests\":{},\"objects\":[{\"object_id\":\"a\",\"persist_mode\":\"placed_room\","
        "\"seq\":-0}]}",
        "{\"manifests\":{},\"objects\":[{\"object_id\":\"a\",\"persist_mode\":\"placed_"
        "\\u0072oom\"}]}",
        "{\"manifests\":{\"m\":{\"properties\":{\"p\":{\"tier\":\"snapshot_only\"}}}},\"objects\":["
        "{"
        "\"object_id\":\"a\",\"persist_mode\":\"placed_saved\",\"manifest_id\":\"m\",\"transform\":"
        "{\"position\":[1,2,3],\"rotation\":[0,0,0,1]},\"properties\":{\"p\":[[[1]]]}}]}",
        "{\"manifests\":{\"m\":{\"properties\":{}}},\"objects\":[{\"object_id\":\"a\",\"persist_"
        "mode\""
        ":\"placed_saved\",\"manifest_id\":\"m\",\"transform\":{\"position\":[1,2,3],\"rotation\":"
        "[0,0,0,1e2]}}]}",
    };
    struct tally t = {0};
    struct roomdoc_limits lim = {.max_objects = 10, .max_value_depth = 2};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        compare(texts[i], strlen(texts[i]), &lim, &t);
    ck_assert_uint_ge(t.fast, 4);
}
END_TEST

/* The fast path tries, for each key, the member named at the same position of the previous
 * object (and of the previous transform) before searching: near misses of those names (one
 * byte off at the start, the middle or the end, other lengths) and reordered members must be
 * read as the reference reads them. */
START_TEST(test_key_guesses)
{
    static const char *const obj =
        "{\"object_id\":\"%s\",\"persist_mode\":\"placed_saved\",\"manifest_id\":\"m\","
        "\"owner_id\":null,\"held_by\":null,\"seq\":1,\"placed\":false,\"transform\":{"
        "\"position\":[1,2,3],\"rotation\":[0,0,0,1],\"scale\":[2,2,2]},\"properties\":{\"p\":1}}";
    static const char *const misses[][2] = {
        {"", ""}, /* the same members */
        {"\"seq\"", "\"seQ\""},
        {"\"seq\"", "\"Seq\""},
        {"\"seq\"", "\"s_q\""},
        {"\"seq\"", "\"seqq\""},
        {"\"placed\"", "\"placeD\""},
        {"\"placed\"", "\"pLaced\""},
        {"\"held_by\"", "\"held_bY\""},
        {"\"held_by\"", "\"hel_dby\""},
        {"\"owner_id\"", "\"owner_iD\""},
        {"\"owner_id\"", "\"ownEr_id\""},
        {"\"object_id\"", "\"object_iD\""},
        {"\"object_id\"", "\"Object_id\""},
        {"\"persist_mode\"", "\"persiSt_mode\""},
        {"\"persist_mode\"", "\"persist_modE\""},
        {"\"manifest_id\"", "\"manifesT_id\""},
        {"\"properties\"", "\"propertieS\""},
        {"\"transform\"", "\"transforM\""},
        {"\"position\"", "\"positioN\""},
        {"\"position\"", "\"pOsition\""},
        {"\"rotation\"", "\"rotatioN\""},
        {"\"scale\"", "\"scalE\""},
        {"\"scale\"", "\"sca1e\""},
        /* reordered */
        {"\"object_id\":\"b\",\"persist_mode\":\"placed_saved\",",
         "\"persist_mode\":\"placed_saved\",\"object_id\":\"b\","},
        {"\"position\":[1,2,3],\"rotation\":[0,0,0,1]",
         "\"rotation\":[0,0,0,1],\"position\":[1,2,3]"},
        {"\"seq\":1,\"placed\":false", "\"placed\":false,\"seq\":1"},
    };
    struct tally t = {0};
    char a[512], b[512], c[512], doc[2048];
    snprintf(a, sizeof a, obj, "a");
    snprintf(c, sizeof c, obj, "c");
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        char base[512];
        snprintf(base, sizeof base, obj, "b");
        const char *at = misses[i][0][0] ? strstr(base, misses[i][0]) : base;
        ck_assert_ptr_nonnull(at);
        size_t pre = (size_t)(at - base), from = strlen(misses[i][0]);
        snprintf(b, sizeof b, "%.*s%s%s", (int)pre, base, misses[i][1], at + from);
        snprintf(doc, sizeof doc,
                 "{\"manifests\":{\"m\":{\"properties\":{\"p\":{\"tier\":\"snapshot_only\"}}}},"
                 "\"objects\":[%s,%s,%s]}",
                 a, b, c);
        compare(doc, strlen(doc), NULL, &t);
    }
    /* those that keep the required members valid are decided here */
    ck_assert_uint_ge(t.fast, 15);
    ck_assert_uint_eq(t.ok_fallback, 0);

    /* the empty key (a member of no rule) where the previous object has the empty key too
     * or another member of no rule (the guess is ROOMSCHEMA_OTHER, whose name is ""), and a
     * member of no rule where the previous object has the empty key: kept as sent */
    static const char *const last[] = {"\"\":1", "\"\":2", "\"x\":3", "\"\":4", "\"y\":5"};
    size_t n = (size_t)snprintf(doc, sizeof doc,
                                "{\"manifests\":{\"m\":{\"properties\":{\"p\":{\"tier\":\"snapshot_"
                                "only\"}}}},\"objects\":[");
    for (size_t i = 0; i < sizeof last / sizeof *last; i++) {
        char id[8];
        snprintf(id, sizeof id, "e%zu", i);
        snprintf(a, sizeof a, obj, id);
        a[strlen(a) - 1] = '\0'; /* the closing brace */
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s%s,%s}", i ? "," : "", a, last[i]);
    }
    n += (size_t)snprintf(doc + n, sizeof doc - n, "]}");
    ck_assert_uint_lt(n, sizeof doc);
    struct tally e = {0};
    compare(doc, n, NULL, &e);
    ck_assert_uint_eq(e.fast, 1);
}
END_TEST

/* The object limit (max_objects): the fast path refuses a body over it before it reads an
 * object, decides one at it, and the reference's answer stays the limit alone at path
 * "objects" (after a manifest's problem), whichever objects are invalid and where. */
static void object_limit_case(size_t n, size_t max, size_t bad_at, bool bad_manifest)
{
    static const char *const obj =
        "{\"object_id\":\"o%zu\",\"persist_mode\":\"%s\",\"manifest_id\":\"m\","
        "\"transform\":{\"position\":[1,2,3],\"rotation\":[0,0,0,1]},\"properties\":{\"p\":1}}";
    char text[4096], one[256];
    size_t len =
        (size_t)snprintf(text, sizeof text,
                         "{\"manifests\":{\"m\":{\"properties\":{\"p\":{\"tier\":\"%s\"}}}},"
                         "\"objects\":[",
                         bad_manifest ? "sometimes" : "snapshot_only");
    for (size_t i = 0; i < n; i++) {
        snprintf(one, sizeof one, obj, i, i == bad_at ? "floating" : "placed_saved");
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? "," : "", one);
    }
    len += (size_t)snprintf(text + len, sizeof text - len, "]}");
    ck_assert_uint_lt(len, sizeof text);
    struct roomdoc_limits lim = {.max_objects = max};
    struct tally t = {0};
    compare(text, len, &lim, &t);
    bool valid = n <= max && bad_at >= n && !bad_manifest;
    ck_assert_uint_eq(t.fast, valid);
    ck_assert_uint_eq(t.ref_ok, valid);

    static struct roomdoc_errors errs;
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *stored = NULL;
    ck_assert_ptr_nonnull(body);
    enum roomdoc_result rr = roomdoc_filter(body, &lim, &stored, NULL, &errs);
    json_decref(stored);
    json_decref(body);
    if (n <= max)
        return;
    ck_assert_int_eq(rr, ROOMDOC_INVALID);
    char want[96];
    snprintf(want, sizeof want, "too many objects: %zu (the limit is %zu)", n, max);
    ck_assert_uint_eq(errs.total, 1 + bad_manifest);
    ck_assert_str_eq(errs.items[bad_manifest].path, "objects");
    ck_assert_str_eq(errs.items[bad_manifest].message, want);
    if (bad_manifest)
        ck_assert_str_eq(errs.items[0].path, "manifests.m.properties.p.tier");
}

START_TEST(test_object_limit)
{
    for (size_t n = 0; n <= 6; n++)
        for (size_t bad_at = 0; bad_at <= n; bad_at++) /* n: none invalid */
            for (int manifest = 0; manifest <= 1; manifest++)
                object_limit_case(n, 3, bad_at, manifest);
    object_limit_case(1, 1, 1, false); /* the smallest limit */
    object_limit_case(2, 1, 1, false);
}
END_TEST

static void compare_file(const char *path, bool want_fast)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    struct tally t = {0};
    compare(buf, n, NULL, &t);
    if (want_fast)
        ck_assert_msg(t.fast == 1, "%s: not decided by the fast path", path);
}

START_TEST(test_files)
{
    compare_file("examples/room.json", true);
    /* generated documents and their invalid variants (tests/fixtures/payload/README.md) */
    static const char *const names[] = {
        "r-42-150.json", "r-42-150-undeclared.json", "r-42-150-manifest.json",
        "r-7-60.json",   "r-7-60-undeclared.json",   "r-7-60-manifest.json",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fixtures/payload/%s", names[i]);
        compare_file(path, i == 0 || i == 3);
    }
}
END_TEST

static Suite *roomscan_suite(void)
{
    Suite *s = suite_create("roomscan");
    TCase *tc = tcase_create("roomscan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_edge_texts);
    tcase_add_test(tc, test_generated_valid);
    tcase_add_test(tc, test_generated_invalid);
    tcase_add_test(tc, test_byte_mutations);
    tcase_add_test(tc, test_files);
    tcase_add_test(tc, test_key_guesses);
    tcase_add_test(tc, test_object_limit);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(roomscan_suite)
