/* test_store_group.c — group commit (store/store_group.h) and the batch it runs
 * (store_sqlite_save_batch), on a fresh migrated SQLite file per test: a failing save fails
 * alone, a lost transaction fails only what was in it, many threads get contiguous versions,
 * If-Match races have one winner per version, groups are shared and released. */
#include "common/clock.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_group.h"
#include "store/store_sqlite.h"
#include "tests/unit/unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_store_util.h"

/* ---- batches and group commit ---- */

static struct store *open_plain(void)
{
    struct store *p = NULL;
    struct store_options o;
    store_options_default(&o);
    o.group_commit = false;
    ck_assert_int_eq(store_open_opts(tsu_path, &o, &p, tsu_err, sizeof tsu_err), STORE_OK);
    return p;
}

static struct store_save_req batch_req(const char *room, const char *doc, int64_t if_match)
{
    struct store_save_req r = {.room_id = room,
                               .doc = doc,
                               .doc_len = strlen(doc),
                               .if_match = if_match,
                               .saved_at_ms = 1,
                               .saved_by = &tsu_alice,
                               .objects_saved = 1,
                               .history_keep = 10};
    return r;
}

START_TEST(test_batch_isolates_failures)
{
    /* an SQL error inside one save (a trigger aborts its statement) */
    tsu_exec("CREATE TRIGGER poison BEFORE INSERT ON room_versions WHEN NEW.room_id = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    struct store *p = open_plain();
    struct store_save_req r[7] = {
        batch_req("a", "{\"a\":1}", -1), batch_req("a", "{\"stale\":1}", 5),
        batch_req("b", "{}", -1),        batch_req("poison", "{}", -1),
        batch_req("a", "{\"a\":2}", 1),  batch_req("c", "{\"c\":1}", -1),
        batch_req("c", "{\"c\":2}", 1),
    };
    r[2].history_keep = 0; /* invalid request */
    struct store_save_result res[7];
    struct store_save_result *resp[7];
    const struct store_save_req *reqp[7];
    enum store_status st[7];
    for (int i = 0; i < 7; i++) {
        reqp[i] = &r[i];
        resp[i] = &res[i];
    }
    store_sqlite_save_batch(p, reqp, resp, st, 7);
    ck_assert_int_eq(st[0], STORE_OK);
    ck_assert_int_eq(res[0].version, 1);
    ck_assert(res[0].created);
    ck_assert_int_eq(st[1], STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(st[2], STORE_ERROR);
    ck_assert_int_eq(st[3], STORE_ERROR);
    ck_assert_int_eq(st[4], STORE_OK); /* sees save 0 of the same batch */
    ck_assert_int_eq(res[4].version, 2);
    ck_assert(!res[4].created);
    ck_assert_int_eq(st[5], STORE_OK);
    ck_assert_int_eq(st[6], STORE_OK);
    ck_assert_int_eq(res[6].version, 2);
    store_close(p);
    /* what is stored: exactly the successful saves */
    struct store_state state;
    ck_assert_int_eq(store_room_get(tsu_s, "a", 0, &state), STORE_OK);
    ck_assert_int_eq(state.version, 2);
    ck_assert_str_eq(state.doc, "{\"a\":2}");
    store_state_clear(&state);
    ck_assert_int_eq(tsu_current_version("b"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("poison"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("c"), 2);
}
END_TEST

START_TEST(test_batch_lost_transaction)
{
    /* RAISE(ROLLBACK) ends the whole transaction: the saves before it in the batch are lost
     * and must report an error; the saves after it go into a new transaction */
    tsu_exec("CREATE TRIGGER wreck BEFORE INSERT ON room_versions WHEN NEW.room_id = 'wreck' "
             "BEGIN SELECT RAISE(ROLLBACK, 'wrecked'); END;");
    struct store *p = open_plain();
    struct store_save_req r[4] = {
        batch_req("x", "{}", -1),
        batch_req("x", "{}", -1),
        batch_req("wreck", "{}", -1),
        batch_req("y", "{}", -1),
    };
    struct store_save_result res[4];
    struct store_save_result *resp[4];
    const struct store_save_req *reqp[4];
    enum store_status st[4];
    for (int i = 0; i < 4; i++) {
        reqp[i] = &r[i];
        resp[i] = &res[i];
    }
    store_sqlite_save_batch(p, reqp, resp, st, 4);
    ck_assert_int_eq(st[0], STORE_ERROR);
    ck_assert_int_eq(st[1], STORE_ERROR);
    ck_assert_int_eq(res[1].version, 0);
    ck_assert_int_eq(st[2], STORE_ERROR);
    ck_assert_int_eq(st[3], STORE_OK);
    ck_assert_int_eq(res[3].version, 1);
    store_close(p);
    ck_assert_int_eq(tsu_current_version("x"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("y"), 1);
}
END_TEST

#define GROUP_THREADS 16
#define GROUP_SAVES 20

struct group_arg {
    int64_t versions[GROUP_SAVES];
    int ok, failed, precondition;
    bool race; /* If-Match with the version just read */
};

static void *group_writer(void *p)
{
    struct group_arg *a = p;
    struct store *ws = NULL;
    char e[512];
    if (store_open(tsu_path, &ws, e, sizeof e) != STORE_OK) {
        a->failed = GROUP_SAVES;
        return NULL;
    }
    for (int i = 0; i < GROUP_SAVES; i++) {
        struct store_save_result res;
        int64_t cur = 0;
        if (a->race && store_room_version(ws, "g", &cur) != STORE_OK)
            cur = 0; /* no state yet: a conditional save cannot win */
        enum store_status st = tsu_save(ws, "g", "{\"g\":true}", a->race ? cur : -1, 1000, &res);
        if (st == STORE_OK)
            a->versions[a->ok++] = res.version;
        else if (st == STORE_PRECONDITION_FAILED)
            a->precondition++;
        else
            a->failed++;
    }
    store_close(ws);
    return NULL;
}

/* Runs GROUP_THREADS writers on room "g", currently at version base; checks that the
 * acknowledged versions are exactly base+1..base+successes; returns the successes. */
static int run_group(bool race, int64_t base)
{
    pthread_t t[GROUP_THREADS];
    struct group_arg *a = calloc(GROUP_THREADS, sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < GROUP_THREADS; i++) {
        a[i].race = race;
        ck_assert_int_eq(pthread_create(&t[i], NULL, group_writer, &a[i]), 0);
    }
    for (int i = 0; i < GROUP_THREADS; i++)
        pthread_join(t[i], NULL);
    int total = 0;
    char seen[GROUP_THREADS * GROUP_SAVES + 2] = {0};
    for (int i = 0; i < GROUP_THREADS; i++) {
        ck_assert_int_eq(a[i].failed, 0);
        ck_assert_int_eq(a[i].ok + a[i].precondition, GROUP_SAVES);
        if (!race)
            ck_assert_int_eq(a[i].precondition, 0);
        for (int j = 0; j < a[i].ok; j++) {
            int64_t v = a[i].versions[j];
            ck_assert(v > base && v <= base + GROUP_THREADS * GROUP_SAVES);
            ck_assert_int_eq(seen[v - base], 0); /* exactly one writer per version */
            seen[v - base] = 1;
        }
        total += a[i].ok;
    }
    for (int v = 1; v <= total; v++)
        ck_assert_int_eq(seen[v], 1); /* contiguous */
    ck_assert_int_eq(tsu_current_version("g"), base + total);
    free(a);
    return total;
}

START_TEST(test_group_many_threads)
{
    int total = run_group(false, 0);
    ck_assert_int_eq(total, GROUP_THREADS * GROUP_SAVES);
    struct store_group_stats gs;
    ck_assert(store_group_stats_of(tsu_s, &gs));
    ck_assert_uint_eq(gs.saves, (unsigned long long)total);
    ck_assert(gs.batches >= 1 && gs.batches <= gs.saves);
    struct store_version_info *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_room_versions(tsu_s, "g", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, (size_t)total);
    free(v);
}
END_TEST

START_TEST(test_group_if_match_race)
{
    struct store_save_result res;
    ck_assert_int_eq(store_room_version(tsu_s, "g", &(int64_t){0}), STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_save(tsu_s, "g", "{}", -1, 1000, &res), STORE_OK);
    /* everyone races with If-Match: each version has exactly one winner (checked in
     * run_group), the losers get 412, and nobody fails otherwise */
    int total = run_group(true, 1);
    ck_assert_int_ge(total, 1);
}
END_TEST

START_TEST(test_group_shared_and_released)
{
    struct store *a = NULL, *b = NULL;
    struct store_save_result res;
    struct store_group_stats ga, gb;
    ck_assert_int_eq(store_open(tsu_path, &a, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(store_open(tsu_path, &b, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(a, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(tsu_save(b, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    ck_assert(store_group_stats_of(a, &ga));
    ck_assert(store_group_stats_of(b, &gb));
    ck_assert_uint_eq(ga.saves, 2); /* one writer for the file */
    ck_assert_uint_eq(gb.saves, 2);
    store_close(a);
    store_close(tsu_s); /* the fixture'tsu_s store */
    tsu_s = NULL;
    ck_assert_int_eq(tsu_save(b, "sh", "{}", -1, 10, &res), STORE_OK); /* still served */
    ck_assert_int_eq(res.version, 3);
    store_close(b);
    /* all closed: the writer stopped; a new store starts a new one */
    ck_assert_int_eq(store_open(tsu_path, &tsu_s, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(tsu_s, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 4);
    ck_assert(store_group_stats_of(tsu_s, &ga));
    ck_assert_uint_eq(ga.saves, 1);
}
END_TEST

/* Another connection holds the write lock: a save (plain or group commit) and a delete
 * fail with STORE_BUSY after lock_wait_ms (not the old 25 s of retries), storing nothing;
 * a save's own deadline_ns shortens the wait. */
static void lock_bound_case(bool group)
{
    struct store *p = NULL;
    struct store_options o;
    struct store_save_result res;
    sqlite3 *holder = NULL;
    store_options_default(&o);
    o.group_commit = group;
    o.lock_wait_ms = 300;
    ck_assert_int_eq(store_open_opts(tsu_path, &o, &p, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(store_sqlite_connect(tsu_path, false, &holder, tsu_err, sizeof tsu_err),
                     STORE_OK);
    ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t0 = clock_mono_ns();
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_BUSY);
    int64_t took_ms = (clock_mono_ns() - t0) / 1000000;
    ck_assert_int_ge(took_ms, 250);
    ck_assert_int_lt(took_ms, 3000);
    struct store_save_req r = batch_req("lk", "{}", -1);
    r.deadline_ns = clock_mono_ns() + 50 * 1000000LL; /* shorter than lock_wait_ms */
    t0 = clock_mono_ns();
    ck_assert_int_eq(store_room_save(p, &r, &res), STORE_BUSY);
    ck_assert_int_lt((clock_mono_ns() - t0) / 1000000, 280);
    ck_assert_int_eq(store_room_delete(p, "lk", -1), STORE_BUSY);
    ck_assert_int_eq(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(holder);
    ck_assert_int_eq(tsu_current_version("lk"), 1); /* nothing of the refused ones stored */
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    store_close(p);
}

START_TEST(test_lock_wait_bounded_plain)
{
    lock_bound_case(false);
}
END_TEST

START_TEST(test_lock_wait_bounded_group)
{
    lock_bound_case(true);
}
END_TEST

static Suite *store_group_suite(void)
{
    Suite *su = suite_create("store_group");
    TCase *tc = tcase_create("store_group");
    tcase_add_checked_fixture(tc, tsu_setup, tsu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batch_isolates_failures);
    tcase_add_test(tc, test_batch_lost_transaction);
    tcase_add_test(tc, test_group_many_threads);
    tcase_add_test(tc, test_group_if_match_race);
    tcase_add_test(tc, test_group_shared_and_released);
    tcase_add_test(tc, test_lock_wait_bounded_plain);
    tcase_add_test(tc, test_lock_wait_bounded_group);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_SUITE(store_group_suite)
