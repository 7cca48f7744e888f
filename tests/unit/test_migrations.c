/* test_migrations.c — the migration runner (store/migrations.h) on fresh SQLite files:
 * fresh apply, idempotence, order, a failing migration rolled back, tampered checksums and
 * databases newer than the binary caught, two runners at once. */
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "tests/unit/unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static char path[512];
static sqlite3 *db;
static char err[1024];

static const struct schema_migration list3[] = {
    {1, "one", "CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"},
    {2, "two", "ALTER TABLE t1 ADD COLUMN w INTEGER NOT NULL DEFAULT 7;\n"},
    {5, "five", "CREATE TABLE t5 (x INTEGER);\nINSERT INTO t5 VALUES (42);\n"},
};

static void setup(void)
{
    dir = unit_tmpdir();
    snprintf(path, sizeof path, "%s/m.db", dir);
    err[0] = '\0';
    ck_assert_int_eq(store_sqlite_connect(path, true, &db, err, sizeof err), STORE_OK);
}

static void teardown(void)
{
    sqlite3_close(db);
    db = NULL;
    unit_rmdir(dir);
    free(dir);
}

static long long query_int(sqlite3 *d, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    ck_assert_int_eq(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool table_exists(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
    return query_int(db, sql) == 1;
}

START_TEST(test_checksum_vector)
{
    char hex[MIGRATIONS_SHA256_HEX];
    migrations_checksum("abc", hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_fresh_embedded)
{
    int n = -1;
    ck_assert_int_eq(migrations_check_current(db, err, sizeof err), MIGRATIONS_PENDING);
    ck_assert_ptr_nonnull(strstr(err, "pending"));
    ck_assert_int_eq(migrations_apply(db, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, schema_migrations_embedded_count);
    ck_assert(n >= 1);
    ck_assert(table_exists("rooms"));
    ck_assert(table_exists("room_versions"));
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM schema_migrations"), n);
    ck_assert_int_eq(migrations_check_current(db, err, sizeof err), MIGRATIONS_OK);

    /* the recorded checksum is the sha256 of the embedded text */
    char want[MIGRATIONS_SHA256_HEX];
    migrations_checksum(schema_migrations_embedded[0].sql, want);
    struct migrations_report r;
    ck_assert_int_eq(migrations_inspect(db, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_uint_eq(r.n, (size_t)n);
    ck_assert_uint_eq(r.applied, (size_t)n);
    ck_assert_str_eq(r.rows[0].db_checksum, want);
    ck_assert_int_eq(r.rows[0].state, MIGRATIONS_STATE_APPLIED);
    ck_assert_uint_eq(strlen(r.rows[0].applied_at), 24); /* RFC 3339 with ms */
    migrations_report_clear(&r);
}
END_TEST

/* A file store_sqlite_connect creates gets STORE_SQLITE_PAGE_SIZE pages; every connection has
 * secure_delete FAST (2) and temp_store MEMORY (2); a file made elsewhere with 4 KiB pages keeps them and migrates. */
START_TEST(test_page_size_and_secure_delete)
{
    int n = -1;
    ck_assert_int_eq(migrations_apply(db, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(query_int(db, "PRAGMA page_size"), atoi(STORE_SQLITE_PAGE_SIZE));
    ck_assert_int_eq(query_int(db, "PRAGMA secure_delete"), 2);

    char old[600];
    snprintf(old, sizeof old, "%s/old.db", dir);
    sqlite3 *raw = NULL;
    ck_assert_int_eq(sqlite3_open(old, &raw), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(raw, "PRAGMA page_size = 4096; CREATE TABLE x (y);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(raw);
    sqlite3 *d = NULL;
    ck_assert_int_eq(store_sqlite_connect(old, true, &d, err, sizeof err), STORE_OK);
    ck_assert_int_eq(query_int(d, "PRAGMA page_size"), 4096);
    ck_assert_int_eq(query_int(d, "PRAGMA secure_delete"), 2);
    ck_assert_int_eq(query_int(d, "PRAGMA temp_store"), 2);
    ck_assert_int_eq(migrations_apply(d, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(query_int(d, "SELECT count(*) FROM schema_migrations"), n);
    sqlite3_close(d);
}
END_TEST

START_TEST(test_idempotent)
{
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, list3, 3, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pragma_table_info('t1') WHERE name = 'w'"),
                     1);
    ck_assert_int_eq(query_int(db, "SELECT x FROM t5"), 42);
    ck_assert_int_eq(migrations_apply_list(db, list3, 3, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t5"), 1); /* not run twice */
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    ck_assert_int_eq(migrations_check_current_list(db, list3, 3, err, sizeof err), MIGRATIONS_OK);
}
END_TEST

START_TEST(test_pending_in_order)
{
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, list3, 1, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(migrations_check_current_list(db, list3, 3, err, sizeof err),
                     MIGRATIONS_PENDING);
    ck_assert_ptr_nonnull(strstr(err, "0002_two"));
    struct migrations_report r;
    ck_assert_int_eq(migrations_inspect_list(db, list3, 3, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_uint_eq(r.applied, 1);
    ck_assert_uint_eq(r.pending, 2);
    ck_assert_int_eq(r.rows[1].version, 2);
    ck_assert_int_eq(r.rows[2].version, 5);
    ck_assert_int_eq(r.rows[2].state, MIGRATIONS_STATE_PENDING);
    migrations_report_clear(&r);
    ck_assert_int_eq(migrations_apply_list(db, list3, 3, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(query_int(db, "SELECT max(version) FROM schema_migrations"), 5);
}
END_TEST

START_TEST(test_failing_rolls_back)
{
    static const struct schema_migration bad[] = {
        {1, "one",
         "CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"
         "INSERT INTO t1 (v) VALUES ('kept');\n"},
        {2, "broken",
         "CREATE TABLE t2 (x INTEGER);\n"
         "UPDATE t1 SET v = 'changed';\n"
         "INSERT INTO no_such_table VALUES (1);\n"},
        {3, "after", "CREATE TABLE t3 (x INTEGER);\n"},
    };
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, bad, 3, &n, err, sizeof err), MIGRATIONS_FAILED);
    ck_assert_int_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(err, "0002_broken"));
    ck_assert_ptr_nonnull(strstr(err, "no_such_table"));
    /* migration 1 is there; nothing of 2 is; 3 was not attempted */
    ck_assert(table_exists("t1"));
    ck_assert(!table_exists("t2"));
    ck_assert(!table_exists("t3"));
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t1 WHERE v = 'kept'"), 1);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM schema_migrations"), 1);
    ck_assert_int_eq(query_int(db, "SELECT max(version) FROM schema_migrations"), 1);
    ck_assert(sqlite3_get_autocommit(db)); /* no transaction left open */
    /* a fixed migration 2 then applies */
    static const struct schema_migration fixed[] = {
        {1, "one",
         "CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"
         "INSERT INTO t1 (v) VALUES ('kept');\n"},
        {2, "broken", "CREATE TABLE t2 (x INTEGER);\n"},
    };
    ck_assert_int_eq(migrations_apply_list(db, fixed, 2, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(n, 1);
    ck_assert(table_exists("t2"));
}
END_TEST

START_TEST(test_migration_may_not_commit)
{
    static const struct schema_migration bad[] = {
        {1, "commits", "CREATE TABLE t1 (x INTEGER);\nCOMMIT;\n"},
    };
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, bad, 1, &n, err, sizeof err), MIGRATIONS_FAILED);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'schema_migrations' AND EXISTS (SELECT 1 FROM "
                                   "schema_migrations)"),
                     0);
}
END_TEST

START_TEST(test_tampered_checksum)
{
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, list3, 2, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "UPDATE schema_migrations SET checksum = "
                     "'0000000000000000000000000000000000000000000000000000000000000000'"
                     " WHERE version = 2",
                     NULL, NULL, NULL),
        SQLITE_OK);
    struct migrations_report r;
    ck_assert_int_eq(migrations_inspect_list(db, list3, 3, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_uint_eq(r.modified, 1);
    ck_assert_int_eq(r.rows[1].state, MIGRATIONS_STATE_MODIFIED);
    migrations_report_clear(&r);
    ck_assert_int_eq(migrations_check_current_list(db, list3, 2, err, sizeof err),
                     MIGRATIONS_MODIFIED);
    ck_assert_ptr_nonnull(strstr(err, "0002_two"));
    /* up refuses to touch it: migration 5 stays pending */
    ck_assert_int_eq(migrations_apply_list(db, list3, 3, &n, err, sizeof err), MIGRATIONS_MODIFIED);
    ck_assert_int_eq(n, 0);
    ck_assert(!table_exists("t5"));
}
END_TEST

START_TEST(test_changed_text)
{
    static const struct schema_migration edited[] = {
        {1, "one", "CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT);\n"},
    };
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, list3, 1, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(migrations_check_current_list(db, edited, 1, err, sizeof err),
                     MIGRATIONS_MODIFIED);
}
END_TEST

START_TEST(test_newer_database_refused)
{
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, list3, 3, &n, err, sizeof err), MIGRATIONS_OK);
    /* a binary that knows only 1 and 2 */
    ck_assert_int_eq(migrations_check_current_list(db, list3, 2, err, sizeof err),
                     MIGRATIONS_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(err, "0005_five"));
    ck_assert_ptr_nonnull(strstr(err, "newer"));
    ck_assert_int_eq(migrations_apply_list(db, list3, 2, &n, err, sizeof err), MIGRATIONS_UNKNOWN);
    struct migrations_report r;
    ck_assert_int_eq(migrations_inspect_list(db, list3, 2, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_uint_eq(r.unknown, 1);
    ck_assert_uint_eq(r.applied, 2);
    ck_assert_int_eq(r.rows[2].state, MIGRATIONS_STATE_UNKNOWN);
    ck_assert_str_eq(r.rows[2].name, "five");
    migrations_report_clear(&r);
}
END_TEST

START_TEST(test_store_refuses_unmigrated_and_newer)
{
    struct store *s = NULL;
    int n = -1;
    /* empty file: pending, and the message names the command */
    ck_assert_int_eq(store_open(path, &s, err, sizeof err), STORE_SCHEMA_NOT_CURRENT);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "roomstate-migrate --db"));
    ck_assert_ptr_nonnull(strstr(err, " up"));
    ck_assert_int_eq(migrations_apply(db, &n, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(store_open(path, &s, err, sizeof err), STORE_OK);
    ck_assert(store_ready(s));
    /* a newer tool applied migration 9999 behind our back */
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO schema_migrations VALUES (9999, 'future', "
                                  "'ab', '2030-01-01T00:00:00.000Z')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert(!store_ready(s));
    store_close(s);
    s = NULL;
    ck_assert_int_eq(store_open(path, &s, err, sizeof err), STORE_SCHEMA_NOT_CURRENT);
    ck_assert_ptr_nonnull(strstr(err, "9999"));
}
END_TEST

START_TEST(test_bad_list)
{
    static const struct schema_migration desc[] = {
        {2, "b", "SELECT 1;"},
        {1, "a", "SELECT 1;"},
    };
    int n = -1;
    ck_assert_int_eq(migrations_apply_list(db, desc, 2, &n, err, sizeof err), MIGRATIONS_ERROR);
    ck_assert_int_eq(n, 0);
}
END_TEST

struct runner_arg {
    enum migrations_result rc;
    int n;
};

static void *runner(void *p)
{
    struct runner_arg *a = p;
    sqlite3 *d = NULL;
    char e[512];
    if (store_sqlite_connect(path, false, &d, e, sizeof e) != STORE_OK) {
        a->rc = MIGRATIONS_ERROR;
        return NULL;
    }
    a->rc = migrations_apply_list(d, list3, 3, &a->n, e, sizeof e);
    sqlite3_close(d);
    return NULL;
}

START_TEST(test_two_runners)
{
    pthread_t t[3];
    struct runner_arg a[3] = {{0}};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, runner, &a[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(a[i].rc, MIGRATIONS_OK);
    ck_assert_int_eq(a[0].n + a[1].n + a[2].n, 3);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t5"), 1);
}
END_TEST

static Suite *migrations_suite(void)
{
    Suite *s = suite_create("migrations");
    TCase *tc = tcase_create("migrations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_checksum_vector);
    tcase_add_test(tc, test_fresh_embedded);
    tcase_add_test(tc, test_page_size_and_secure_delete);
    tcase_add_test(tc, test_idempotent);
    tcase_add_test(tc, test_pending_in_order);
    tcase_add_test(tc, test_failing_rolls_back);
    tcase_add_test(tc, test_migration_may_not_commit);
    tcase_add_test(tc, test_tampered_checksum);
    tcase_add_test(tc, test_changed_text);
    tcase_add_test(tc, test_newer_database_refused);
    tcase_add_test(tc, test_store_refuses_unmigrated_and_newer);
    tcase_add_test(tc, test_bad_list);
    tcase_add_test(tc, test_two_runners);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(migrations_suite)
