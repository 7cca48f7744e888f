/* dbpool.h — one `struct store` (one database connection) per worker thread, opened lazily
 * on the thread's first request and closed all at once when the server stops (after the
 * worker threads have been joined). */
#ifndef ROOMSTATE_DBPOOL_H
#define ROOMSTATE_DBPOOL_H

#include "common/store.h"

#include <stddef.h>

/* Sets the database path and the store options (copied; NULL: the defaults), before any
 * worker thread runs. */
void dbpool_init(const char *db_path, const struct store_options *opts);

/* The calling thread's store, opened on first use.  On failure *out is NULL and the
 * status says why (a later call tries again). */
enum store_status dbpool_get(struct store **out) __attribute__((warn_unused_result));

/* Closes every store opened by dbpool_get.  Call only when no worker thread runs. */
void dbpool_close_all(void);

#endif
