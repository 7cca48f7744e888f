/* dbpool.h — the database connections of the worker threads.
 *
 * SQLite: one `struct store` per worker thread, opened lazily on the thread's first request
 * and kept (dbpool_put does nothing); all closed when the server stops.
 * PostgreSQL: a pool of at most `pg_size` connections shared by every thread, opened on
 * demand; dbpool_get borrows one (waiting a bounded time when all are in use) and
 * dbpool_put gives it back.  A connection that broke reconnects on its next use
 * (store_pg.c), so the pool heals by itself after the database restarts. */
#ifndef ROOMSTATE_DBPOOL_H
#define ROOMSTATE_DBPOOL_H

#include "store/store.h"

#include <stddef.h>

#define DBPOOL_WAIT_MS 10000 /* longest wait for a free PostgreSQL connection */

/* Sets the database and the store options (copied; NULL: the defaults), before any worker
 * thread runs; pg_size >= 1. */
void dbpool_init(const char *db, unsigned pg_size, const struct store_options *opts);

/* A store for the calling thread until dbpool_put.  On failure *out is NULL and the
 * status says why (STORE_BUSY: unreachable or every connection in use; a later call tries
 * again). */
enum store_status dbpool_get(struct store **out) __attribute__((warn_unused_result));

/* Gives back what dbpool_get returned (NULL is fine). */
void dbpool_put(struct store *s);

/* Closes every store.  Call only when no worker thread runs. */
void dbpool_close_all(void);

#endif
