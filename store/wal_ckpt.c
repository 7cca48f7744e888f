/* wal_ckpt.c — the group-commit writer's WAL checkpoints on a thread of their own (see
 * wal_ckpt.h). */
#include "store/wal_ckpt.h"

#include "common/log.h"
#include "store/store_sqlite.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct wal_ckpt {
    sqlite3 *writer; /* not ours */
    sqlite3 *db;     /* the thread's own connection */
    pthread_t thread;
    /* the writer's thread only (the WAL hook runs there, inside its COMMIT) */
    int frames;         /* in the WAL after the writer's last commit */
    unsigned gen;       /* WAL generations seen: one more each time it restarts */
    int writer_copied;  /* frames the writer's own pass left copied, in generation gen */
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    bool kick, busy, stop;
    unsigned pass_gen; /* the generation the thread's pass was started in */
    int copied;        /* frames its last pass left copied (in pass_gen) */
    bool failing;      /* the last pass failed (logged once, until one succeeds) */
    struct wal_ckpt_stats stats;
};

static int on_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct wal_ckpt *c = arg;
    (void)db;
    (void)name;
    if (frames < c->frames) { /* the transaction started the WAL again from its beginning */
        c->gen++;
        c->writer_copied = 0;
    }
    c->frames = frames;
    pthread_mutex_lock(&c->mu);
    c->stats.frames = frames;
    if (frames > c->stats.max_frames)
        c->stats.max_frames = frames;
    pthread_mutex_unlock(&c->mu);
    return SQLITE_OK;
}

/* A PASSIVE checkpoint on db (the thread's or the writer's): the frames it left copied, or -1.
 * A failure is logged once, until one succeeds; SQLITE_BUSY (another process's checkpoint
 * under way) is none. */
static int passive(struct wal_ckpt *c, sqlite3 *db, bool by_writer)
{
    int log_frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    pthread_mutex_lock(&c->mu);
    if (by_writer)
        c->stats.writer_passes++;
    else
        c->stats.thread_passes++;
    if (rc == SQLITE_OK) {
        c->failing = false;
    } else if (rc != SQLITE_BUSY && !c->failing) {
        log_error("store: WAL checkpoint: %s (the WAL grows until one succeeds)",
                  sqlite3_errmsg(db));
        c->failing = true;
    }
    pthread_mutex_unlock(&c->mu);
    return rc == SQLITE_OK ? copied : -1;
}

static void *ckpt_main(void *arg)
{
    struct wal_ckpt *c = arg;
    pthread_setname_np(pthread_self(), "rs-checkpoint"); /* top -H, perf, gdb */
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->kick && !c->stop)
            pthread_cond_wait(&c->cond, &c->mu);
        if (c->stop)
            break;
        c->kick = false;
        c->busy = true;
        pthread_mutex_unlock(&c->mu);
        int copied = passive(c, c->db, false);
        pthread_mutex_lock(&c->mu);
        c->busy = false;
        if (copied >= 0)
            c->copied = copied;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

enum store_status wal_ckpt_start(sqlite3 *writer, const char *path, struct wal_ckpt **out,
                                 char *err, size_t errsize)
{
    struct wal_ckpt *c = calloc(1, sizeof *c);
    enum store_status rc;
    *out = NULL;
    if (!c) {
        snprintf(err, errsize, "out of memory");
        return STORE_ERROR;
    }
    c->writer = writer;
    rc = store_sqlite_connect(path, false, &c->db, err, errsize);
    if (rc) {
        free(c);
        return rc;
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0 || pthread_cond_init(&c->cond, NULL) != 0) {
        snprintf(err, errsize, "cannot initialise the checkpointer's lock");
        sqlite3_close(c->db);
        free(c);
        return STORE_ERROR; /* (a mutex that did initialise holds nothing to destroy) */
    }
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        snprintf(err, errsize, "cannot start the checkpointer thread");
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        return STORE_ERROR;
    }
    sqlite3_wal_hook(writer, on_commit, c); /* replaces the automatic checkpoint */
    *out = c;
    return STORE_OK;
}

/* The writer copies what is left, so that its next transaction restarts the WAL. */
static void writer_pass(struct wal_ckpt *c)
{
    int copied = passive(c, c->writer, true);
    if (copied >= 0)
        c->writer_copied = copied;
}

void wal_ckpt_after_commit(struct wal_ckpt *c)
{
    if (!c || c->frames < WAL_CKPT_START_FRAMES)
        return;
    int f = c->frames;
    pthread_mutex_lock(&c->mu);
    if (f >= WAL_CKPT_WAIT_FRAMES)
        while (c->busy || c->kick)
            pthread_cond_wait(&c->cond, &c->mu);
    if (f >= WAL_CKPT_WRITER_FRAMES && !c->busy && !c->kick) {
        pthread_mutex_unlock(&c->mu);
        writer_pass(c);
        return;
    }
    int copied = c->pass_gen == c->gen ? c->copied : 0;
    if (c->writer_copied > copied)
        copied = c->writer_copied; /* (0 again once the WAL restarts) */
    if (!c->busy && !c->kick && f - copied >= WAL_CKPT_KICK_FRAMES) {
        c->kick = true;
        c->pass_gen = c->gen;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
}

struct wal_ckpt_stats wal_ckpt_stats(struct wal_ckpt *c)
{
    pthread_mutex_lock(&c->mu);
    struct wal_ckpt_stats s = c->stats;
    pthread_mutex_unlock(&c->mu);
    return s;
}

void wal_ckpt_stop(struct wal_ckpt *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    sqlite3_wal_autocheckpoint(c->writer, 1000); /* SQLite's default again */
    if (sqlite3_close(c->db) != SQLITE_OK)
        log_bug("store: closing the checkpointer's connection: %s", sqlite3_errmsg(c->db));
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
