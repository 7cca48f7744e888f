/* test_store_watch.c — store/store_watch.h: the header rule (two equal copies of a known,
 * initialised version, else "unknown"), and on a real WAL database the mark stays equal
 * while nothing commits (reads included) and changes after a commit by a store, by another
 * connection, and by another process. */
#include "store/store_sqlite.h"
#include "store/store_watch.h"
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test_store_util.h"

/* ---- the header rule, on a buffer shaped as a wal-index header pair ---- */

static uint32_t hdr[2 * STORE_WATCH_MARK_BYTES / 4];

static void fill_header(uint32_t version, unsigned char is_init, uint32_t max_frame)
{
    uint32_t one[STORE_WATCH_MARK_BYTES / 4] = {0};
    one[0] = version;
    one[2] = 7; /* iChange */
    ((unsigned char *)one)[12] = is_init;
    one[4] = max_frame;
    memcpy(hdr, one, sizeof one);
    memcpy(hdr + STORE_WATCH_MARK_BYTES / 4, one, sizeof one);
}

START_TEST(test_header_rule)
{
    struct store_watch_mark a, b;
    fill_header(3007000, 1, 10);
    ck_assert(store_watch_read_header(hdr, &a));
    ck_assert_mem_eq(a.b, hdr, sizeof a.b);
    fill_header(3007000, 1, 11); /* one more frame: another mark */
    ck_assert(store_watch_read_header(hdr, &b));
    ck_assert(memcmp(&a, &b, sizeof a) != 0);
    /* a torn header (the second copy already written, the first not yet): unknown */
    ((unsigned char *)hdr)[STORE_WATCH_MARK_BYTES + 16] ^= 1;
    ck_assert(!store_watch_read_header(hdr, &b));
    fill_header(3007001, 1, 10); /* a version this code does not know */
    ck_assert(!store_watch_read_header(hdr, &b));
    fill_header(3007000, 0, 10); /* not initialised */
    ck_assert(!store_watch_read_header(hdr, &b));
}
END_TEST

START_TEST(test_not_sqlite)
{
    struct store_watch *w = (struct store_watch *)&w; /* overwritten */
    struct store_watch_mark m;
    char err[256] = "";
    ck_assert_int_eq(
        store_watch_open("postgresql://roomstate@127.0.0.1:1/none", &w, err, sizeof err), STORE_OK);
    ck_assert_ptr_null(w);
    ck_assert(!store_watch_mark(NULL, &m));
    store_watch_close(NULL);
}
END_TEST

/* ---- on a real database ---- */

static struct store_watch *open_watch(void)
{
    struct store_watch *w = NULL;
    ck_assert_int_eq(store_watch_open(tsu_path, &w, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_msg(w != NULL, "no watch: %s", tsu_err);
    return w;
}

static struct store_watch_mark mark_of(const struct store_watch *w)
{
    struct store_watch_mark m;
    ck_assert(store_watch_mark(w, &m));
    return m;
}

#define DOC "{\"manifests\":{},\"objects\":[]}"

START_TEST(test_marks_follow_commits)
{
    struct store_save_result res;
    struct store_state st = {0};
    struct store_watch *w = open_watch();
    struct store_watch_mark m0 = mark_of(w), m1;

    m1 = mark_of(w);
    ck_assert_mem_eq(&m0, &m1, sizeof m0); /* nothing committed */
    ck_assert_int_eq(store_room_get(tsu_s, "none", 0, &st), STORE_NOT_FOUND);
    tsu_exec("SELECT count(*) FROM rooms");
    m1 = mark_of(w);
    ck_assert_mem_eq(&m0, &m1, sizeof m0); /* reads commit nothing */

    ck_assert_int_eq(tsu_save(tsu_s, "r", DOC, -1, 10, &res), STORE_OK); /* group commit */
    m1 = mark_of(w);
    ck_assert(memcmp(&m0, &m1, sizeof m0) != 0);
    m0 = m1;
    tsu_exec("UPDATE rooms SET updated_at_ms = updated_at_ms + 1"); /* another connection */
    m1 = mark_of(w);
    ck_assert(memcmp(&m0, &m1, sizeof m0) != 0);
    m0 = m1;
    /* a checkpoint that restarts the WAL changes the header too (a "maybe": callers ask) */
    tsu_exec("PRAGMA wal_checkpoint(TRUNCATE)");
    tsu_exec("UPDATE rooms SET updated_at_ms = updated_at_ms + 1");
    m1 = mark_of(w);
    ck_assert(memcmp(&m0, &m1, sizeof m0) != 0);
    store_watch_close(w);
}
END_TEST

START_TEST(test_marks_see_other_processes)
{
    struct store_watch *w = open_watch();
    struct store_watch_mark m0 = mark_of(w), m1;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* a process of its own with its own connection, as another server */
        sqlite3 *db = NULL;
        char err[256];
        int ok = store_sqlite_connect(tsu_path, false, &db, err, sizeof err) == STORE_OK &&
                 sqlite3_exec(db,
                              "INSERT INTO rooms (room_id, last_version, updated_at_ms) "
                              "VALUES ('elsewhere', 1, 0)",
                              NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_close(db);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    m1 = mark_of(w);
    ck_assert(memcmp(&m0, &m1, sizeof m0) != 0);
    store_watch_close(w);
}
END_TEST

static Suite *store_watch_suite(void)
{
    Suite *su = suite_create("store_watch");
    TCase *rule = tcase_create("rule");
    tcase_add_test(rule, test_header_rule);
    tcase_add_test(rule, test_not_sqlite);
    suite_add_tcase(su, rule);
    TCase *db = tcase_create("database");
    tcase_add_checked_fixture(db, tsu_setup, tsu_teardown);
    tcase_add_test(db, test_marks_follow_commits);
    tcase_add_test(db, test_marks_see_other_processes);
    suite_add_tcase(su, db);
    return su;
}

UNIT_SUITE(store_watch_suite)
