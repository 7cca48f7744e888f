/* store_watch.h — "has any transaction committed to this database since I last looked?",
 * answered without a lock, a system call or a query, for the caches in front of the store.
 *
 * SQLite in WAL mode keeps a header at the start of its shared-memory wal-index (the
 * `-shm` file; https://sqlite.org/walformat.html, "The WAL-Index Header"), which every
 * commit rewrites under the write lock: the last valid frame, the checksum of that frame and
 * the WAL's salts change with each commit, and the salts change when the WAL restarts after
 * a checkpoint.  It holds two copies, written second copy first; a reader that finds both
 * copies equal (read first copy first) read a consistent header.  So: two equal headers,
 * read at two times, mean no commit completed in between, by any connection of any process
 * (another server on the file, roomstate-migrate, the sqlite3 shell); any difference means
 * "maybe", and the caller asks the database.
 *
 * The watch maps the header through the VFS's own xShmMap of a connection it keeps open
 * (idle: it never holds a transaction, so it never holds back a checkpoint).  A header in a
 * version this code does not know, a torn read (a commit in progress), or a database that is
 * not SQLite answers "unknown": the caller then reads the store as before.  PostgreSQL has no
 * such header: store_watch_open gives no watch for it. */
#ifndef ROOMSTATE_STORE_WATCH_H
#define ROOMSTATE_STORE_WATCH_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

#define STORE_WATCH_MARK_BYTES 48 /* one copy of SQLite's WalIndexHdr */

/* The state of the database at one moment; equal marks: nothing committed in between. */
struct store_watch_mark {
    unsigned char b[STORE_WATCH_MARK_BYTES];
};

struct store_watch;

/* A watch on the database db (a store path as store_open takes).  *out is NULL, with
 * STORE_OK, when db is not a SQLite file or its wal-index cannot be mapped (the reason is
 * then in err, for a log line): callers treat a NULL watch as "always unknown". */
enum store_status store_watch_open(const char *db, struct store_watch **out, char *err,
                                   size_t errsize) __attribute__((warn_unused_result));

/* Reads the database's mark into *out: true when it is known (a consistent header of a
 * known version), false when the caller must ask the database (w NULL, a commit in
 * progress, an unknown header version). Thread-safe, lock-free. */
bool store_watch_mark(const struct store_watch *w, struct store_watch_mark *out);

/* Closes the watch's connection (after every other user of w is done).  NULL is fine. */
void store_watch_close(struct store_watch *w);

/* The rule of store_watch_mark on the first 2 * STORE_WATCH_MARK_BYTES bytes of a
 * wal-index (shared memory another process may be writing): both copies equal, initialised,
 * of version 3007000.  Exposed for the unit tests. */
bool store_watch_read_header(const volatile void *walindex, struct store_watch_mark *out);

#endif
