/* wal_ckpt.h — copies a SQLite file's WAL back into the database on a thread of its own, for
 * the group-commit writer's connection (store_group.c, docs/storage.md "Checkpoints").
 *
 * SQLite's own automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000
 * frames: the writer, and every save waiting on it, waits for ~8 MB to be read back, written
 * to the database and synced. Here the writer's automatic checkpoint is off and a thread
 * with a connection of its own copies the frames (a PASSIVE checkpoint: it never blocks the
 * writer) while the writer goes on, among other things while it waits for its fsync.
 *
 * The WAL can only start again from its beginning once every frame is copied, and it must
 * (or it grows without bound). So once it holds WAL_CKPT_WRITER_FRAMES frames, the writer
 * copies what is left itself, between two transactions, when the thread is idle (at
 * WAL_CKPT_WAIT_FRAMES it waits for the thread first); its next transaction then restarts
 * the WAL. */
#ifndef ROOMSTATE_WAL_CKPT_H
#define ROOMSTATE_WAL_CKPT_H

#include "store/store.h"

#include <sqlite3.h>
#include <stddef.h>

/* In frames (pages) in the WAL after a commit; 3,000 8 KiB pages are ~24 MB of WAL.  A WAL
 * allowed 10,000 pages was not faster (BENCHMARKS.md, "Save"). */
#define WAL_CKPT_START_FRAMES 500   /* no checkpoint below */
#define WAL_CKPT_KICK_FRAMES 300    /* frames not yet copied that start the thread's pass */
#define WAL_CKPT_WRITER_FRAMES 1500 /* the writer copies the rest (the thread idle) */
#define WAL_CKPT_WAIT_FRAMES 3000   /* the writer waits for the thread, then copies the rest */

struct wal_ckpt;

struct wal_ckpt_stats {
    unsigned long long thread_passes; /* PASSIVE checkpoints by the thread */
    unsigned long long writer_passes; /* ... by the writer, to restart the WAL */
    int frames;                       /* frames in the WAL after the writer's last commit */
    int max_frames;                   /* the most it held */
};

/* Starts the checkpointer of path for writer, the connection that commits the saves: its
 * automatic checkpoint is replaced (sqlite3_wal_hook) and the thread opens a connection of
 * its own.  On failure *out is NULL, err says why and writer is unchanged. */
enum store_status wal_ckpt_start(sqlite3 *writer, const char *path, struct wal_ckpt **out,
                                 char *err, size_t errsize) __attribute__((warn_unused_result));

/* On the writer's thread after each of its transactions (none open): starts the thread's
 * pass, or copies the rest itself, as the frames in the WAL ask. */
void wal_ckpt_after_commit(struct wal_ckpt *c);

/* The counters so far. */
struct wal_ckpt_stats wal_ckpt_stats(struct wal_ckpt *c);

/* Stops the thread (after its pass), closes its connection and gives the writer back
 * SQLite's automatic checkpoint.  NULL: nothing. */
void wal_ckpt_stop(struct wal_ckpt *c);

#endif
