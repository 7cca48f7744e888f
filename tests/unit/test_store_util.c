/* test_store_util.c — the store suites' shared fixture (see test_store_util.h). */
#include "tests/unit/test_store_util.h"

#include "store/migrations.h"
#include "store/store_sqlite.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tsu_dir;
char tsu_path[512];
struct store *tsu_s;
char tsu_err[1024];
const struct store_saved_by tsu_alice = {"11111111-1111-4111-8111-111111111111", "alice", ""};

void tsu_setup(void)
{
    sqlite3 *db = NULL;
    int n = 0;
    tsu_dir = unit_tmpdir();
    snprintf(tsu_path, sizeof tsu_path, "%s/store.db", tsu_dir);
    ck_assert_int_eq(store_sqlite_connect(tsu_path, true, &db, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(migrations_apply(db, &n, tsu_err, sizeof tsu_err), MIGRATIONS_OK);
    sqlite3_close(db);
    ck_assert_int_eq(store_open(tsu_path, &tsu_s, tsu_err, sizeof tsu_err), STORE_OK);
}

void tsu_teardown(void)
{
    store_close(tsu_s);
    tsu_s = NULL;
    unit_rmdir(tsu_dir);
    free(tsu_dir);
}

enum store_status tsu_save(struct store *st, const char *room, const char *doc, int64_t if_match,
                           int64_t keep, struct store_save_result *res)
{
    struct store_save_req req = {
        .room_id = room,
        .doc = doc,
        .doc_len = strlen(doc),
        .if_match = if_match,
        .saved_at_ms = 1764000000123,
        .saved_by = &tsu_alice,
        .objects_saved = 3,
        .history_keep = keep,
    };
    return store_room_save(st, &req, res);
}

void tsu_exec(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(store_sqlite_connect(tsu_path, false, &db, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

int64_t tsu_current_version(const char *room)
{
    int64_t v = -1;
    enum store_status rc = store_room_version(tsu_s, room, &v);
    return rc == STORE_OK ? v : -(int64_t)rc;
}
