/* store_sqlite.h — the SQLite backend of store.h, and the one place that opens a SQLite
 * connection with the project's settings (WAL, synchronous=FULL, foreign_keys=ON,
 * busy_timeout), shared by the store and roomstate-migrate. */
#ifndef ROOMSTATE_STORE_SQLITE_H
#define ROOMSTATE_STORE_SQLITE_H

#include "store/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Page size of a database file store_sqlite_connect creates: a ~100 KB document spans 13
 * pages instead of 25, so a save makes half the system calls (BENCHMARKS.md, "Save") */
#define STORE_SQLITE_PAGE_SIZE "8192"
#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000 /* store_sqlite_connect's; a store uses lock_wait_ms */
#define STORE_SQLITE_MMAP_BYTES                                                                    \
    "1073741824" /* PRAGMA mmap_size of a store (1 GiB of address space) */

extern const struct store_ops store_sqlite_ops;

/* Opens a SQLite store on its own connection, without group commit (opts: the lock wait;
 * NULL for the defaults). */
enum store_status store_sqlite_open(const char *path, const struct store_options *opts,
                                    struct store **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs n saves on s's own connection in one BEGIN IMMEDIATE transaction and commits once
 * (waiting for the write lock until the earliest deadline_ns of the saves at most).  st[i]
 * is each save's status and *res[i] its result: a save that fails (If-Match, a bad request,
 * an SQL error) fails alone.  (A save failing by an SQL error rolls the transaction back,
 * which then runs again with each save in its own SAVEPOINT.)  When the transaction itself cannot
 * be begun or committed, every save that would have been in it reports that error (nothing of it
 * was stored).  The backend's save_batch op: the group-commit writer (store_group.c) calls it;
 * tests call it directly. */
void store_sqlite_save_batch(struct store *s, const struct store_save_req *const reqs[],
                             struct store_save_result *const res[], enum store_status st[],
                             size_t n);

/* Opens path with the project's pragmas.  create: also create the file (and nothing else;
 * the parent directory must exist).  Without create, a missing file fails with
 * STORE_SCHEMA_NOT_CURRENT and a message naming `roomstate-migrate --db PATH up`.  An existing
 * file that this process cannot write, or whose directory it cannot write (read-only file
 * system, permissions), fails with STORE_ERROR and a message naming the path and errno.  On
 * failure *out is NULL and err says why. */
enum store_status store_sqlite_connect(const char *path, bool create, sqlite3 **out, char *err,
                                       size_t errsize) __attribute__((warn_unused_result));

/* The counters of s's background checkpoints (store_options.background_checkpoint, store/
 * wal_ckpt.h); false when s has none. */
struct wal_ckpt_stats;
bool store_sqlite_checkpoint_stats(struct store *s, struct wal_ckpt_stats *out);

/* s's own connection (for store_sqlite_copy.c). */
sqlite3 *store_sqlite_db(struct store *s);

/* The copy operations of store.h (store_sqlite_copy.c). */
enum store_status store_sqlite_rooms_list(struct store *s, char ***ids, size_t *n);
enum store_status store_sqlite_room_counter(struct store *s, const char *room_id,
                                            struct store_room_counter *out);
enum store_status store_sqlite_room_import(struct store *s, const struct store_room_copy *in);

#endif
