/* store_pg.h — the PostgreSQL backend of store.h (libpq), and the one place that opens a
 * PostgreSQL connection with the project's settings, shared by the store and
 * roomstate-migrate.
 *
 * The database setting is a libpq connection string: a postgres:// or postgresql:// URI or
 * key=value pairs (store_backend_of).  The password comes from the file named by
 * ROOMSTATE_DB_PASSWORD_FILE when that is set, otherwise from libpq's own sources
 * (PGPASSFILE / ~/.pgpass, PGPASSWORD); a password inside the URI works but is discouraged
 * (it shows in process listings).  Messages name host, port, database and user, never the
 * password.
 *
 * One struct store is one connection (not shared between threads).  A connection that
 * broke (server restarted, network) is re-established on the next call; while that fails
 * every call returns STORE_BUSY, which the server answers with 503 and Retry-After. */
#ifndef ROOMSTATE_STORE_PG_H
#define ROOMSTATE_STORE_PG_H

#include "store/store.h"

#include <libpq-fe.h>
#include <stddef.h>

#define STORE_PG_CONNECT_TIMEOUT_S "5"
/* The advisory lock key every migration runner holds while it applies (the int8 of the
 * ASCII bytes "roomstat"). */
#define STORE_PG_MIGRATION_LOCK "7957688476421534068"

extern const struct store_ops store_pg_ops;

/* Connects to conninfo.  On failure *out is NULL, err names the server and libpq's reason
 * and the status is STORE_BUSY when the server could not be reached (or is starting up),
 * STORE_ERROR otherwise (bad connection string, authentication, no such database). */
enum store_status store_pg_connect(const char *conninfo, PGconn **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* "host H port P database D user U" of a connection string, for messages (no password);
 * "an invalid connection string (...)" when libpq cannot parse it. */
void store_pg_describe(const char *conninfo, char *out, size_t size);

/* The SQLSTATE of a failed result mapped to a store status: connection loss, server
 * shutdown or start-up, serialization failure, deadlock, too many connections: STORE_BUSY;
 * anything else STORE_ERROR. */
enum store_status store_pg_status_of(PGconn *conn, const PGresult *res);

/* s's connection (for store_pg_copy.c): re-established first when it broke; NULL (and
 * *st set) when the database cannot be reached. */
PGconn *store_pg_conn(struct store *s, enum store_status *st);

/* The copy operations of store.h (store_pg_copy.c). */
enum store_status store_pg_rooms_list(struct store *s, char ***ids, size_t *n);
enum store_status store_pg_room_counter(struct store *s, const char *room_id,
                                        struct store_room_counter *out);
enum store_status store_pg_room_import(struct store *s, const struct store_room_copy *in);

#endif
