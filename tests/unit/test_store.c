/* test_store.c — the storage interface (store/store.h) on a fresh migrated SQLite file per
 * test: save/get, versions, If-Match, delete and never-reused versions, history pruning,
 * atomic replacement seen by a concurrent reader, concurrent writers with their own store. */
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "tests/unit/unit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_store_util.h"

START_TEST(test_open_missing)
{
    struct store *o = NULL;
    char p[600];
    snprintf(p, sizeof p, "%s/nope/x.db", tsu_dir);
    ck_assert_int_eq(store_open(p, &o, tsu_err, sizeof tsu_err), STORE_SCHEMA_NOT_CURRENT);
    ck_assert_ptr_null(o);
    ck_assert_ptr_nonnull(strstr(tsu_err, "roomstate-migrate --db"));
    ck_assert_ptr_nonnull(strstr(tsu_err, "up`"));
    /* a URI is the PostgreSQL backend's (nothing listens on port 1), never an SQLite path */
    ck_assert_int_ne(store_open("postgres://127.0.0.1:1/y", &o, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_ptr_nonnull(strstr(tsu_err, "PostgreSQL at host 127.0.0.1 port 1, database y"));
    ck_assert_int_eq(store_open("", &o, tsu_err, sizeof tsu_err), STORE_ERROR);
    ck_assert(store_ready(tsu_s));
}
END_TEST

START_TEST(test_save_get)
{
    struct store_save_result res;
    struct store_state st;
    ck_assert_int_eq(tsu_save(tsu_s, "room-1", "{\"a\":1}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 1);
    ck_assert(res.created);
    ck_assert_int_eq(tsu_save(tsu_s, "room-1", "{\"a\":2}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    ck_assert(!res.created);

    ck_assert_int_eq(store_room_get(tsu_s, "room-1", 0, &st), STORE_OK);
    ck_assert_int_eq(st.version, 2);
    ck_assert_str_eq(st.doc, "{\"a\":2}");
    ck_assert_uint_eq(st.doc_len, 7);
    ck_assert_int_eq(st.saved_at_ms, 1764000000123);
    ck_assert_str_eq(st.saved_by.user_id, tsu_alice.user_id);
    ck_assert_str_eq(st.saved_by.username, "alice");
    ck_assert_str_eq(st.saved_by.service, "");
    ck_assert_int_eq(st.objects_saved, 3);
    store_state_clear(&st);
    ck_assert_ptr_null(st.doc);

    ck_assert_int_eq(store_room_get(tsu_s, "room-1", 1, &st), STORE_OK);
    ck_assert_int_eq(st.version, 1);
    ck_assert_str_eq(st.doc, "{\"a\":1}");
    store_state_clear(&st);
    ck_assert_int_eq(store_room_get(tsu_s, "room-1", 3, &st), STORE_NOT_FOUND);
    ck_assert_ptr_null(st.doc);
    ck_assert_int_eq(tsu_current_version("room-1"), 2);

    /* rooms are independent */
    ck_assert_int_eq(tsu_save(tsu_s, "room-2", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 1);
    ck_assert(res.created);
    ck_assert_int_eq(tsu_current_version("room-1"), 2);
}
END_TEST

START_TEST(test_large_doc)
{
    size_t len = 300 * 1024;
    char *doc = malloc(len + 1);
    ck_assert_ptr_nonnull(doc);
    for (size_t i = 0; i < len; i++)
        doc[i] = (char)('a' + i % 26);
    doc[len] = '\0';
    struct store_save_result res;
    struct store_state st;
    ck_assert_int_eq(tsu_save(tsu_s, "big", doc, -1, 10, &res), STORE_OK);
    ck_assert_int_eq(store_room_get(tsu_s, "big", 0, &st), STORE_OK);
    ck_assert_uint_eq(st.doc_len, len);
    ck_assert(memcmp(st.doc, doc, len) == 0);
    ck_assert_int_eq(st.doc[len], '\0');
    store_state_clear(&st);
    free(doc);
}
END_TEST

START_TEST(test_not_found)
{
    struct store_state st;
    struct store_version_info *v = (void *)1;
    size_t n = 99;
    int64_t ver = 5;
    ck_assert_int_eq(store_room_get(tsu_s, "ghost", 0, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_get(tsu_s, "ghost", 1, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_versions(tsu_s, "ghost", &v, &n), STORE_NOT_FOUND);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_room_version(tsu_s, "ghost", &ver), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_delete(tsu_s, "ghost", -1), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_delete(tsu_s, "ghost", 1), STORE_NOT_FOUND);
}
END_TEST

START_TEST(test_if_match)
{
    struct store_save_result res;
    struct store_state st;
    /* If-Match on a room that has no state: precondition failed, nothing created */
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":0}", 1, 10, &res), STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(tsu_current_version("r"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":1}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":2}", 1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    /* stale: 1 is not current any more */
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":3}", 1, 10, &res), STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(res.version, 0);
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":3}", 0, 10, &res), STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":3}", 7, 10, &res), STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(store_room_get(tsu_s, "r", 0, &st), STORE_OK);
    ck_assert_int_eq(st.version, 2);
    ck_assert_str_eq(st.doc, "{\"v\":2}");
    store_state_clear(&st);
    /* the failed attempts used no version number */
    ck_assert_int_eq(tsu_save(tsu_s, "r", "{\"v\":3}", 2, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 3);
}
END_TEST

START_TEST(test_delete_never_reuses)
{
    struct store_save_result res;
    struct store_state st;
    struct store_version_info *v = NULL;
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tsu_save(tsu_s, "d", "{\"old\":true}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(store_room_delete(tsu_s, "d", 2), STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(tsu_current_version("d"), 3);
    ck_assert_int_eq(store_room_delete(tsu_s, "d", 3), STORE_OK);
    ck_assert_int_eq(store_room_get(tsu_s, "d", 0, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_get(tsu_s, "d", 2, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_versions(tsu_s, "d", &v, &n), STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("d"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_delete(tsu_s, "d", -1), STORE_NOT_FOUND);
    /* If-Match naming the deleted version: there is no current version to match */
    ck_assert_int_eq(tsu_save(tsu_s, "d", "{\"new\":true}", 3, 10, &res),
                     STORE_PRECONDITION_FAILED);
    /* the next save continues the count: an ETag always names one document */
    ck_assert_int_eq(tsu_save(tsu_s, "d", "{\"new\":true}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 4);
    ck_assert(!res.created); /* documented in store.h: created only on the first-ever save */
    ck_assert_int_eq(store_room_versions(tsu_s, "d", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(v[0].version, 4);
    free(v);
    ck_assert_int_eq(store_room_get(tsu_s, "d", 0, &st), STORE_OK);
    ck_assert_str_eq(st.doc, "{\"new\":true}");
    store_state_clear(&st);
    /* unconditional delete works too, and the count still continues */
    ck_assert_int_eq(store_room_delete(tsu_s, "d", -1), STORE_OK);
    ck_assert_int_eq(tsu_save(tsu_s, "d", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 5);
}
END_TEST

START_TEST(test_history_pruned)
{
    struct store_save_result res;
    struct store_state st;
    struct store_version_info *v = NULL;
    size_t n = 0;
    char doc[64];
    for (int i = 1; i <= 10; i++) {
        snprintf(doc, sizeof doc, "{\"i\":%d}", i);
        ck_assert_int_eq(tsu_save(tsu_s, "h", doc, -1, 3, &res), STORE_OK);
        ck_assert_int_eq(res.version, i);
    }
    ck_assert_int_eq(store_room_versions(tsu_s, "h", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0].version, 10); /* newest first */
    ck_assert_int_eq(v[1].version, 9);
    ck_assert_int_eq(v[2].version, 8);
    ck_assert_int_eq(v[0].bytes, (int64_t)strlen("{\"i\":10}"));
    ck_assert_int_eq(v[2].bytes, (int64_t)strlen("{\"i\":8}"));
    ck_assert_str_eq(v[1].saved_by.username, "alice");
    ck_assert_int_eq(v[1].objects_saved, 3);
    ck_assert_int_eq(v[1].saved_at_ms, 1764000000123);
    free(v);
    ck_assert_int_eq(store_room_get(tsu_s, "h", 7, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_get(tsu_s, "h", 8, &st), STORE_OK);
    ck_assert_str_eq(st.doc, "{\"i\":8}");
    store_state_clear(&st);
    /* a smaller history setting prunes further on the next save; keep 1 = current only */
    ck_assert_int_eq(tsu_save(tsu_s, "h", "{\"i\":11}", -1, 1, &res), STORE_OK);
    ck_assert_int_eq(store_room_versions(tsu_s, "h", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(v[0].version, 11);
    free(v);
}
END_TEST

START_TEST(test_saved_by_service)
{
    static const struct store_saved_by svc = {"", "", "relay"};
    struct store_save_req req = {
        .room_id = "svc",
        .doc = "{}",
        .doc_len = 2,
        .if_match = -1,
        .saved_at_ms = 5,
        .saved_by = &svc,
        .objects_saved = 0,
        .history_keep = 10,
    };
    struct store_save_result res;
    struct store_state st;
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_OK);
    req.saved_by = NULL; /* nobody: stored as empty strings */
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_OK);
    ck_assert_int_eq(store_room_get(tsu_s, "svc", 1, &st), STORE_OK);
    ck_assert_str_eq(st.saved_by.service, "relay");
    ck_assert_str_eq(st.saved_by.user_id, "");
    store_state_clear(&st);
    ck_assert_int_eq(store_room_get(tsu_s, "svc", 2, &st), STORE_OK);
    ck_assert_str_eq(st.saved_by.service, "");
    store_state_clear(&st);
}
END_TEST

START_TEST(test_bad_requests)
{
    struct store_save_result res;
    struct store_save_req req = {
        .room_id = "x", .doc = "{}", .doc_len = 2, .if_match = -1, .history_keep = 0};
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_ERROR); /* history_keep < 1 */
    req.history_keep = 1;
    req.room_id = "";
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_ERROR);
    req.room_id = NULL;
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_ERROR);
    req.room_id = "x";
    req.doc = NULL;
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_ERROR);
    ck_assert_int_eq(tsu_current_version("x"), -(int64_t)STORE_NOT_FOUND);
    /* the store still works after refusing */
    req.doc = "{}";
    ck_assert_int_eq(store_room_save(tsu_s, &req, &res), STORE_OK);
    ck_assert_int_eq(res.version, 1);
}
END_TEST

/* ---- concurrency: every thread has its own store ---- */

#define WRITERS 4
#define SAVES_PER_WRITER 25

struct writer_arg {
    const char *room; /* NULL: a room of its own */
    char own_room[32];
    int64_t versions[SAVES_PER_WRITER];
    int failures;
};

static bool writers_group; /* the loop test'tsu_s group_commit setting */

static void *writer(void *p)
{
    struct writer_arg *a = p;
    struct store *ws = NULL;
    struct store_options o;
    char e[512];
    char doc[64];
    store_options_default(&o);
    o.group_commit = writers_group;
    if (store_open_opts(tsu_path, &o, &ws, e, sizeof e) != STORE_OK) {
        a->failures = SAVES_PER_WRITER;
        return NULL;
    }
    for (int i = 0; i < SAVES_PER_WRITER; i++) {
        struct store_save_result res;
        snprintf(doc, sizeof doc, "{\"i\":%d}", i);
        if (tsu_save(ws, a->room ? a->room : a->own_room, doc, -1, 1000, &res) == STORE_OK)
            a->versions[i] = res.version;
        else
            a->failures++;
    }
    store_close(ws);
    return NULL;
}

START_TEST(test_concurrent_writers)
{
    pthread_t t[2 * WRITERS];
    struct writer_arg *a = calloc(2 * WRITERS, sizeof *a);
    ck_assert_ptr_nonnull(a);
    writers_group = _i == 1; /* loop: 0 = each store commits alone, 1 = group commit */
    for (int i = 0; i < 2 * WRITERS; i++) {
        a[i].room = i < WRITERS ? "shared" : NULL; /* half on one room, half on their own */
        snprintf(a[i].own_room, sizeof a[i].own_room, "own-%d", i);
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    }
    for (int i = 0; i < 2 * WRITERS; i++)
        pthread_join(t[i], NULL);
    /* the shared room: every save acknowledged with a distinct version, 1..N exactly */
    int total = WRITERS * SAVES_PER_WRITER;
    char *seen = calloc((size_t)total + 1, 1);
    ck_assert_ptr_nonnull(seen);
    for (int i = 0; i < 2 * WRITERS; i++) {
        ck_assert_int_eq(a[i].failures, 0);
        for (int j = 0; j < SAVES_PER_WRITER; j++) {
            int64_t v = a[i].versions[j];
            if (j > 0)
                ck_assert_int_gt(v, a[i].versions[j - 1]); /* each writer sees them rise */
            if (i < WRITERS) {
                ck_assert(v >= 1 && v <= total);
                ck_assert_int_eq(seen[v], 0);
                seen[v] = 1;
            } else {
                ck_assert_int_eq(v, j + 1);
            }
        }
    }
    free(seen);
    struct store_version_info *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_room_versions(tsu_s, "shared", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, (size_t)total);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(v[i].version, total - (int64_t)i); /* contiguous, newest first */
    free(v);
    ck_assert_int_eq(tsu_current_version("shared"), total);
    free(a);
}
END_TEST

/* A reader thread sees either the old or the new document, never a mix: each document
 * names its version and carries a body whose every byte depends on it. */
#define ATOMIC_SAVES 60

static atomic_int writer_done;

static void make_doc(char *buf, size_t size, int64_t version)
{
    int n = snprintf(buf, size, "{\"v\":%" PRId64 ",\"pad\":\"", version);
    size_t len = 20000 + (size_t)(version % 7) * 1000; /* lengths vary too */
    for (size_t i = 0; i < len && (size_t)n + i + 3 < size; i++)
        buf[n + (int)i] = (char)('a' + version % 26);
    snprintf(buf + n + len, size - (size_t)n - len, "\"}");
}

static void *reader(void *p)
{
    int *bad = p;
    struct store *rs = NULL;
    char e[512];
    static char want[40000];
    if (store_open(tsu_path, &rs, e, sizeof e) != STORE_OK) {
        *bad = -1;
        return NULL;
    }
    while (!writer_done) {
        struct store_state st;
        enum store_status rc = store_room_get(rs, "atomic", 0, &st);
        if (rc == STORE_NOT_FOUND)
            continue;
        if (rc != STORE_OK) {
            (*bad)++;
            break;
        }
        make_doc(want, sizeof want, st.version);
        if (st.doc_len != strlen(want) || memcmp(st.doc, want, st.doc_len) != 0)
            (*bad)++;
        store_state_clear(&st);
    }
    store_close(rs);
    return NULL;
}

START_TEST(test_atomic_replace)
{
    static char doc[40000];
    pthread_t t;
    int bad = 0;
    struct store_save_result res;
    writer_done = 0;
    ck_assert_int_eq(pthread_create(&t, NULL, reader, &bad), 0);
    for (int64_t v = 1; v <= ATOMIC_SAVES; v++) {
        make_doc(doc, sizeof doc, v);
        ck_assert_int_eq(tsu_save(tsu_s, "atomic", doc, -1, 5, &res), STORE_OK);
        ck_assert_int_eq(res.version, v);
        /* a stale If-Match in between changes nothing */
        ck_assert_int_eq(tsu_save(tsu_s, "atomic", "{\"torn\":true}", v - 1, 5, &res),
                         STORE_PRECONDITION_FAILED);
    }
    writer_done = 1;
    pthread_join(t, NULL);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_reopen_durable)
{
    struct store_save_result res;
    struct store_state st;
    ck_assert_int_eq(tsu_save(tsu_s, "keep", "{\"x\":1}", -1, 10, &res), STORE_OK);
    store_close(tsu_s);
    tsu_s = NULL;
    ck_assert_int_eq(store_open(tsu_path, &tsu_s, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(store_room_get(tsu_s, "keep", 0, &st), STORE_OK);
    ck_assert_str_eq(st.doc, "{\"x\":1}");
    store_state_clear(&st);
    /* the connection'tsu_s settings */
    sqlite3 *db = NULL;
    ck_assert_int_eq(store_sqlite_connect(tsu_path, false, &db, tsu_err, sizeof tsu_err), STORE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 2); /* FULL */
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_get_current_unless)
{
    /* store_room_get_current: the current version always, its document unless the caller
     * holds that version; the document sits STORE_DOC_HEADROOM into a buffer the caller can
     * take over (GET /state writes its envelope there) */
    struct store_save_result res;
    struct store_state st;
    ck_assert_int_eq(tsu_save(tsu_s, "cur", "{\"a\":1}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(tsu_save(tsu_s, "cur", "{\"a\":2}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);

    ck_assert_int_eq(store_room_get_current(tsu_s, "cur", 0, &st), STORE_OK);
    ck_assert_int_eq(st.version, 2);
    ck_assert_str_eq(st.doc, "{\"a\":2}");
    store_state_clear(&st);

    ck_assert_int_eq(store_room_get_current(tsu_s, "cur", 2, &st), STORE_OK); /* held */
    ck_assert_int_eq(st.version, 2);
    ck_assert_ptr_null(st.doc);
    ck_assert_uint_eq(st.doc_len, 0);
    ck_assert_str_eq(st.saved_by.username, "alice");
    ck_assert_int_eq(st.objects_saved, 3);
    store_state_clear(&st);

    ck_assert_int_eq(store_room_get_current(tsu_s, "cur", 1, &st), STORE_OK); /* stale */
    ck_assert_int_eq(st.version, 2);
    ck_assert_str_eq(st.doc, "{\"a\":2}");
    char *alloc = store_state_take_doc(&st);
    ck_assert_ptr_null(st.doc);
    ck_assert_ptr_nonnull(alloc);
    ck_assert_str_eq(alloc + STORE_DOC_HEADROOM, "{\"a\":2}");
    memset(alloc, 'x', STORE_DOC_HEADROOM); /* the headroom is the caller's */
    free(alloc);
    store_state_clear(&st);

    ck_assert_int_eq(store_room_get_current(tsu_s, "nope", 0, &st), STORE_NOT_FOUND);
    ck_assert_ptr_null(st.doc);
    ck_assert_int_eq(store_room_delete(tsu_s, "cur", -1), STORE_OK);
    ck_assert_int_eq(store_room_get_current(tsu_s, "cur", 2, &st), STORE_NOT_FOUND);
    ck_assert_int_eq(store_room_get_current(tsu_s, "cur", -1, &st), STORE_ERROR);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, tsu_setup, tsu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_missing);
    tcase_add_test(tc, test_save_get);
    tcase_add_test(tc, test_get_current_unless);
    tcase_add_test(tc, test_large_doc);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_if_match);
    tcase_add_test(tc, test_delete_never_reuses);
    tcase_add_test(tc, test_history_pruned);
    tcase_add_test(tc, test_saved_by_service);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_loop_test(tc, test_concurrent_writers, 0, 2);
    tcase_add_test(tc, test_atomic_replace);
    tcase_add_test(tc, test_reopen_durable);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_SUITE(store_suite)
