/* test_store_util.h — the fixture shared by the store suites (test_store.c,
 * test_store_group.c, test_store_watch.c): a fresh migrated SQLite file per test, a save
 * helper and another connection's SQL. */
#ifndef ROOMSTATE_TEST_STORE_UTIL_H
#define ROOMSTATE_TEST_STORE_UTIL_H

#include "store/store.h"

#include <stdint.h>

extern char *tsu_dir;       /* the test's temporary directory */
extern char tsu_path[512];  /* its database file */
extern struct store *tsu_s; /* a store opened on it */
extern char tsu_err[1024];
extern const struct store_saved_by tsu_alice;

/* check fixture: migrate a fresh database and open tsu_s; close and remove it. */
void tsu_setup(void);
void tsu_teardown(void);
/* Saves doc to room through st; the status, the result in *res. */
enum store_status tsu_save(struct store *st, const char *room, const char *doc, int64_t if_match,
                           int64_t keep, struct store_save_result *res);
/* Runs sql on a connection of its own to tsu_path (another writer, as far as tsu_s knows). */
void tsu_exec(const char *sql);
/* The room's current version, or minus its store status. */
int64_t tsu_current_version(const char *room);

#endif
