/* test_roomdoc_files.c — common/roomdoc on whole documents from files: examples/room.json
 * saves as documented, and the filter stores exactly what the benchmark payload generator's
 * own expected() computed for the same documents (committed fixtures in tests/fixtures/payload/,
 * see its README: the generated document, its expected stored form, two invalid variants). */
#include "common/roomdoc.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
    enum roomdoc_result rc;
    json_t *stored;
    struct roomdoc_stats stats;
    struct roomdoc_errors errors;
};

static void run_filter(json_t *doc, struct run *r)
{
    memset(r, 0, sizeof *r);
    r->rc = roomdoc_filter(doc, NULL, &r->stored, &r->stats, &r->errors);
    /* and the in-place variant, on a copy, gives the same */
    static struct roomdoc_errors errors;
    struct roomdoc_stats stats = {0};
    json_t *copy = json_deep_copy(doc), *stored = NULL;
    ck_assert_int_eq(roomdoc_filter_in_place(copy, NULL, &stored, &stats, &errors), r->rc);
    ck_assert_int_eq(errors.total, r->errors.total);
    ck_assert(memcmp(&stats, &r->stats, sizeof stats) == 0);
    ck_assert(r->rc != ROOMDOC_OK || json_equal(stored, r->stored));
    json_decref(stored);
    json_decref(copy);
}

static void expect_ok(const struct run *r, const char *what)
{
    ck_assert_msg(r->rc == ROOMDOC_OK, "%s rejected (%zu errors), first: %s: %s", what,
                  r->errors.total, r->errors.count ? r->errors.items[0].path : "",
                  r->errors.count ? r->errors.items[0].message : "");
}

START_TEST(test_example_room)
{
    json_error_t err;
    json_t *doc = json_load_file("examples/room.json", JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(doc != NULL, "examples/room.json: %s (line %d)", err.text, err.line);
    struct run r;
    run_filter(doc, &r);
    expect_ok(&r, "examples/room.json");
    /* the numbers examples/README.md shows for its first save */
    ck_assert_int_eq(r.stats.objects_saved, 16);
    ck_assert_int_eq(r.stats.dropped_placed_room, 9);
    ck_assert_int_eq(r.stats.dropped_transient_held, 5);
    ck_assert_int_eq(r.stats.non_durable_properties, 25);
    ck_assert_int_eq(json_object_size(json_object_get(r.stored, "manifests")), 4);
    /* every persist mode and every tier is in the example, and durable overrides both ways */
    const char *k;
    json_t *m;
    bool tiers[3] = {false}, forced_on = false, forced_off = false;
    json_object_foreach(json_object_get(doc, "manifests"), k, m)
    {
        const char *p;
        json_t *d;
        json_object_foreach(json_object_get(m, "properties"), p, d)
        {
            int t = roomdoc_tier_parse(json_string_value(json_object_get(d, "tier")));
            ck_assert_int_ge(t, 0);
            tiers[t] = true;
            json_t *dur = json_object_get(d, "durable");
            forced_on |= json_is_true(dur) && t == ROOMDOC_HIGH_RATE_UNRELIABLE;
            forced_off |= json_is_false(dur) && t != ROOMDOC_HIGH_RATE_UNRELIABLE;
        }
    }
    ck_assert(tiers[0] && tiers[1] && tiers[2] && forced_on && forced_off);
    json_decref(r.stored);
    json_decref(doc);
}
END_TEST

static json_t *load_file(const char *dir, const char *name)
{
    char path[600];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(j != NULL, "%s: %s", path, err.text);
    return j;
}

#define FIXTURES "tests/fixtures/payload"

/* The filter gives exactly what the generator's expected() computed (tests/fixtures/payload). */
START_TEST(test_matches_payload_fixtures)
{
    static const int seeds[] = {42, 7, 3};
    static const int counts[] = {150, 60, 1};
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "r-%d-%d.json", seeds[k], counts[k]);
        json_t *doc = load_file(FIXTURES, name);
        snprintf(name, sizeof name, "e-%d-%d.json", seeds[k], counts[k]);
        json_t *want = load_file(FIXTURES, name);
        ck_assert_int_eq(json_array_size(json_object_get(doc, "objects")), (size_t)counts[k]);
        struct run r;
        run_filter(doc, &r);
        expect_ok(&r, "payload fixture");
        /* json_equal compares objects regardless of key order */
        ck_assert_msg(json_equal(r.stored, want), "stored document differs from expected()");
        ck_assert_int_eq(r.stats.objects_saved, json_array_size(json_object_get(want, "objects")));
        ck_assert_int_eq(r.stats.objects_saved + r.stats.dropped_placed_room +
                             r.stats.dropped_transient_held,
                         (size_t)counts[k]);
        json_decref(r.stored);
        json_decref(want);
        json_decref(doc);

        /* its invalid variants: a change to the last placed_saved object (the contract
         * checks manifests and declarations of placed_saved objects only: "Objects that are
         * not placed_saved need nothing more"), or none when there is no such object */
        static const char *const inv[] = {"undeclared", "manifest"};
        for (int v = 0; v < 2; v++) {
            snprintf(name, sizeof name, "r-%d-%d-%s.json", seeds[k], counts[k], inv[v]);
            doc = load_file(FIXTURES, name);
            int victim = -1;
            json_t *objs = json_object_get(doc, "objects");
            for (size_t i = 0; i < json_array_size(objs); i++) {
                const char *mode =
                    json_string_value(json_object_get(json_array_get(objs, i), "persist_mode"));
                if (mode && strcmp(mode, "placed_saved") == 0)
                    victim = (int)i;
            }
            run_filter(doc, &r);
            if (victim >= 0) {
                char wpath[64];
                snprintf(wpath, sizeof wpath, "objects[%d].%s", victim,
                         v == 0 ? "properties.not_in_manifest" : "manifest_id");
                ck_assert_int_eq(r.rc, ROOMDOC_INVALID);
                ck_assert_int_eq(r.errors.total, 1);
                ck_assert_str_eq(r.errors.items[0].path, wpath);
            } else {
                expect_ok(&r, "invalid variant without a placed_saved object");
            }
            json_decref(r.stored);
            json_decref(doc);
        }
    }
}
END_TEST

static Suite *roomdoc_files_suite(void)
{
    Suite *s = suite_create("roomdoc_files");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_example_room);
    tcase_add_test(tc, test_matches_payload_fixtures);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(roomdoc_files_suite)
