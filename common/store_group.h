/* store_group.h — group commit for the SQLite store: every store of one database file in
 * this process hands its saves to one writer thread (with its own connection), which runs
 * whatever has queued up as one transaction, each save in its own SAVEPOINT, and commits
 * once (synchronous=FULL: one fsync for the whole batch).  A caller's store_room_save
 * returns only after the commit that holds its save is durable; If-Match and version
 * semantics are those of a single save, applied in queue order; a failing save in a batch
 * fails only itself.
 *
 * Groups are shared per database (by real path) and reference-counted: the first store of a
 * file starts the writer, the last store_close stops it. */
#ifndef ROOMSTATE_STORE_GROUP_H
#define ROOMSTATE_STORE_GROUP_H

#include "common/store.h"

#define STORE_GROUP_MAX_BATCH 128                 /* saves per transaction */
#define STORE_GROUP_MAX_BATCH_BYTES (64ull << 20) /* document bytes per transaction */

struct store_group;

/* The group of the database at path (created, with its writer thread, on first use, with
 * opts' lock_wait_ms). */
enum store_status store_group_acquire(const char *path, const struct store_options *opts,
                                      struct store_group **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));
/* Drops one reference; the last one stops the writer thread and closes its connection. */
void store_group_release(struct store_group *g);

/* Queues req and waits until the batch holding it is committed (or failed).  A save still
 * queued at its deadline_ns (0: lock_wait_ms from the call) is unlinked and fails with
 * STORE_BUSY; the writer waits for the write lock until a batch's earliest deadline. */
enum store_status store_group_save(struct store_group *g, const struct store_save_req *req,
                                   struct store_save_result *res)
    __attribute__((warn_unused_result));

/* Counters since the group started (for tests and metrics). */
struct store_group_stats {
    unsigned long long saves, batches, max_batch;
};
void store_group_stats(struct store_group *g, struct store_group_stats *out);

#endif
