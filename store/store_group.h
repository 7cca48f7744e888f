/* store_group.h — group commit, a layer above a backend that has the save_batch op (SQLite):
 * every store of one database file in this process hands its saves to one writer thread
 * (with its own connection), which runs whatever has queued up as one transaction (each
 * save in its own SAVEPOINT only when the batch runs again after an SQL error), and commits
 * once (synchronous=FULL: one fsync for the whole batch).  Everything but saves goes straight to
 * the store's own backend connection.  The dependency is one way: this layer uses the backend's
 * ops; the backend knows nothing of it.  A caller's store_room_save returns only after the commit
 * that holds its save is durable; If-Match and version semantics are those of a single save,
 * applied in queue order; a failing save in a batch fails only itself.
 *
 * Groups are shared per database (by real path) and reference-counted: the first store of a
 * file starts the writer, the last store_close stops it. */
#ifndef ROOMSTATE_STORE_GROUP_H
#define ROOMSTATE_STORE_GROUP_H

#include "store/store.h"

#define STORE_GROUP_MAX_BATCH 128                 /* saves per transaction */
#define STORE_GROUP_MAX_BATCH_BYTES (64ull << 20) /* document bytes per transaction */

/* A store of the database at path (backend: its ops, e.g. &store_sqlite_ops) whose saves go
 * through the database's group (created, with its writer thread, on first use, with opts'
 * lock_wait_ms; the last store_close of the database stops it).  A save still queued at its
 * deadline_ns (0: lock_wait_ms from the call) is unlinked and fails with STORE_BUSY; the
 * writer waits for the write lock until a batch's earliest deadline.  opts NULL: defaults. */
enum store_status store_group_open(const struct store_ops *backend, const char *path,
                                   const struct store_options *opts, struct store **out, char *err,
                                   size_t errsize) __attribute__((warn_unused_result));

/* Called once a queued save is answered, on the group's writer thread, without its lock:
 * st is what store_room_save would have returned (*res is filled).  It must not block. */
typedef void (*store_save_done_fn)(void *arg, enum store_status st);

/* Queues req on s's group and returns at once: on_done(arg, status) follows once the commit
 * that holds it is durable, or it failed, or it was still queued at its deadline_ns
 * (STORE_BUSY; 0: lock_wait_ms from now).  *req is copied; what it points to (room_id,
 * doc, saved_by) and *res must stay valid until then.  False, and on_done is never called, when s
 * is not a group store, req is invalid or the group is stopping: save the blocking way then. */
bool store_group_save_async(struct store *s, const struct store_save_req *req,
                            struct store_save_result *res, store_save_done_fn on_done, void *arg)
    __attribute__((warn_unused_result));

/* The store's own backend connection when s is a group store (its non-save calls run
 * there, e.g. store/fleet.c's), else NULL. */
struct store *store_group_inner(struct store *s);

/* Counters since the group started (for tests and metrics). */
struct store_group_stats {
    unsigned long long saves, batches, max_batch;
};
/* The counters of s's group; false when s is not a group store. */
bool store_group_stats_of(struct store *s, struct store_group_stats *out);

#endif
