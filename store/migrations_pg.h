/* migrations_pg.h — the schema migration runner for PostgreSQL: the same contract as
 * migrations.h (schema_migrations(version, name, checksum, applied_at), sha256 checksums,
 * append-only, verify before apply), with the migrations of schema/postgres/
 * (schema_migrations_pg_embedded).
 *
 * Each migration is applied in its own transaction that first takes the transaction-level
 * advisory lock STORE_PG_MIGRATION_LOCK, then creates schema_migrations if needed and
 * re-reads it: two runners started at once against one database apply each migration
 * exactly once (the second waits, then finds it applied).  PostgreSQL's DDL is
 * transactional: a failing migration leaves nothing behind. */
#ifndef ROOMSTATE_MIGRATIONS_PG_H
#define ROOMSTATE_MIGRATIONS_PG_H

#include "store/migrations.h"

#include <libpq-fe.h>

enum migrations_result migrations_pg_apply_list(PGconn *conn, const struct schema_migration *list,
                                                int n, int *napplied, char *err, size_t errsize)
    __attribute__((warn_unused_result));
enum migrations_result migrations_pg_apply(PGconn *conn, int *napplied, char *err, size_t errsize)
    __attribute__((warn_unused_result));

enum migrations_result migrations_pg_inspect_list(PGconn *conn, const struct schema_migration *list,
                                                  int n, struct migrations_report *out, char *err,
                                                  size_t errsize)
    __attribute__((warn_unused_result));
enum migrations_result migrations_pg_inspect(PGconn *conn, struct migrations_report *out, char *err,
                                             size_t errsize) __attribute__((warn_unused_result));

/* MIGRATIONS_OK when the database is current (see migrations_check_current). */
enum migrations_result migrations_pg_check_current(PGconn *conn, char *err, size_t errsize)
    __attribute__((warn_unused_result));

#endif
