/* store_sqlite.h — the SQLite backend of store.h, and the one place that opens a SQLite
 * connection with the project's settings (WAL, synchronous=FULL, foreign_keys=ON,
 * busy_timeout), shared by the store and roomstate-migrate. */
#ifndef ROOMSTATE_STORE_SQLITE_H
#define ROOMSTATE_STORE_SQLITE_H

#include "common/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000
#define STORE_SQLITE_BEGIN_ATTEMPTS 5 /* BEGIN IMMEDIATE tries, each waiting the busy timeout */

extern const struct store_ops store_sqlite_ops;

/* Opens path with the project's pragmas.  create: also create the file (and nothing else;
 * the parent directory must exist).  Without create, a missing file fails with
 * STORE_SCHEMA_NOT_CURRENT and a message naming `roomstate-migrate --db PATH up`.  On
 * failure *out is NULL and err says why. */
enum store_status store_sqlite_connect(const char *path, bool create, sqlite3 **out, char *err,
                                       size_t errsize) __attribute__((warn_unused_result));

#endif
