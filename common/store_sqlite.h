/* store_sqlite.h — the SQLite backend of store.h, and the one place that opens a SQLite
 * connection with the project's settings (WAL, synchronous=FULL, foreign_keys=ON,
 * busy_timeout), shared by the store and roomstate-migrate. */
#ifndef ROOMSTATE_STORE_SQLITE_H
#define ROOMSTATE_STORE_SQLITE_H

#include "common/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000 /* store_sqlite_connect's; a store uses lock_wait_ms */

extern const struct store_ops store_sqlite_ops;

/* Opens a SQLite store (as store_open_opts does for a file path). */
enum store_status store_sqlite_open(const char *path, const struct store_options *opts,
                                    struct store **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs n saves on s's own connection in one BEGIN IMMEDIATE transaction, each in its own
 * SAVEPOINT, and commits once (waiting for the write lock until the earliest deadline_ns of
 * the saves at most).  st[i] is each save's status and *res[i] its result: a save
 * that fails (If-Match, a bad request, an SQL error) is rolled back to its savepoint and
 * fails alone.  When the transaction itself cannot be begun or committed, every save that
 * would have been in it reports that error (nothing of it was stored).  The group-commit
 * writer (store_group.c) calls this; tests call it directly. */
void store_sqlite_save_batch(struct store *s, const struct store_save_req *const reqs[],
                             struct store_save_result *const res[], enum store_status st[],
                             size_t n);

struct store_group_stats;
/* The group-commit counters of s's database; false when s does not use group commit. */
bool store_sqlite_group_stats(struct store *s, struct store_group_stats *out);

/* Opens path with the project's pragmas.  create: also create the file (and nothing else;
 * the parent directory must exist).  Without create, a missing file fails with
 * STORE_SCHEMA_NOT_CURRENT and a message naming `roomstate-migrate --db PATH up`.  An existing
 * file that this process cannot write, or whose directory it cannot write (read-only file
 * system, permissions), fails with STORE_ERROR and a message naming the path and errno.  On
 * failure *out is NULL and err says why. */
enum store_status store_sqlite_connect(const char *path, bool create, sqlite3 **out, char *err,
                                       size_t errsize) __attribute__((warn_unused_result));

#endif
