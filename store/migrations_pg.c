/* migrations_pg.c — applies, inspects and verifies the PostgreSQL schema migrations (see
 * migrations_pg.h); the report logic is migrations.c's. */
#include "store/migrations_pg.h"

#include "common/clock.h"
#include "common/log.h"
#include "store/store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                " version    BIGINT NOT NULL PRIMARY KEY,"
                                " name       TEXT   NOT NULL,"
                                " checksum   TEXT   NOT NULL,"
                                " applied_at TEXT   NOT NULL)";

static enum migrations_result fail(PGconn *conn, PGresult *res, const char *what, char *err,
                                   size_t errsize)
{
    enum store_status st = store_pg_status_of(conn, res);
    migrations_set_err(err, errsize, "%s: %s", what,
                       res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return st == STORE_BUSY ? MIGRATIONS_BUSY : MIGRATIONS_ERROR;
}

/* Runs sql (no parameters); OK when it answered want. */
static enum migrations_result exec(PGconn *conn, const char *sql, ExecStatusType want,
                                   const char *what, char *err, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    if (res && PQresultStatus(res) == want) {
        PQclear(res);
        return MIGRATIONS_OK;
    }
    return fail(conn, res, what, err, errsize);
}

enum migrations_result migrations_pg_inspect_list(PGconn *conn, const struct schema_migration *list,
                                                  int n, struct migrations_report *out, char *err,
                                                  size_t errsize)
{
    struct migrations_applied *applied = NULL;
    size_t napplied = 0, cap = 0;
    enum migrations_result rc;
    memset(out, 0, sizeof *out);
    rc = migrations_check_list(list, n, err, errsize);
    if (rc)
        return rc;
    /* to_regclass: NULL when the table does not exist (in the search path) */
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(conn, res, "reading the schema", err, errsize);
    bool exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (exists) {
        res = PQexec(conn, "SELECT version, name, checksum, applied_at FROM schema_migrations "
                           "ORDER BY version");
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            return fail(conn, res, "reading schema_migrations", err, errsize);
        for (int i = 0; i < PQntuples(res); i++) {
            long v = strtol(PQgetvalue(res, i, 0), NULL, 10);
            if (v <= 0 || v > 1000000 ||
                migrations_applied_push(&applied, &napplied, &cap, (int)v, PQgetvalue(res, i, 1),
                                        PQgetvalue(res, i, 2), PQgetvalue(res, i, 3))) {
                PQclear(res);
                free(applied);
                migrations_set_err(err, errsize, "schema_migrations: bad version or out of memory");
                return MIGRATIONS_ERROR;
            }
        }
        PQclear(res);
    }
    rc = migrations_report_merge(list, n, applied, napplied, out, err, errsize);
    free(applied);
    return rc;
}

enum migrations_result migrations_pg_inspect(PGconn *conn, struct migrations_report *out, char *err,
                                             size_t errsize)
{
    return migrations_pg_inspect_list(conn, schema_migrations_pg_embedded,
                                      schema_migrations_pg_embedded_count, out, err, errsize);
}

enum migrations_result migrations_pg_check_current(PGconn *conn, char *err, size_t errsize)
{
    struct migrations_report r;
    enum migrations_result rc = migrations_pg_inspect(conn, &r, err, errsize);
    if (rc)
        return rc;
    rc = migrations_report_current(&r, err, errsize);
    migrations_report_clear(&r);
    return rc;
}

static enum migrations_result record(PGconn *conn, const struct migrations_row *row, char *err,
                                     size_t errsize)
{
    char now[CLOCK_RFC3339_LEN], ver[16];
    clock_rfc3339(clock_wall_ms(), now);
    snprintf(ver, sizeof ver, "%d", row->version);
    const char *v[] = {ver, row->name, row->checksum, now};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO schema_migrations (version, name, checksum, "
                                 "applied_at) VALUES ($1::bigint, $2, $3, $4)",
                                 4, NULL, v, NULL, NULL, 0);
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return MIGRATIONS_OK;
    }
    return fail(conn, res, "recording the migration", err, errsize);
}

/* One step of `up` in one transaction holding the advisory lock: applies the first pending
 * migration; *done when nothing was pending. */
static enum migrations_result apply_one(PGconn *conn, const struct schema_migration *list, int n,
                                        bool *done, char *err, size_t errsize)
{
    struct migrations_report r = {0};
    const struct schema_migration *m = NULL;
    const struct migrations_row *row;
    enum migrations_result rc = exec(conn, "BEGIN", PGRES_COMMAND_OK, "BEGIN", err, errsize);
    if (rc)
        return rc;
    rc = exec(conn, "SELECT pg_advisory_xact_lock(" STORE_PG_MIGRATION_LOCK ")", PGRES_TUPLES_OK,
              "taking the migration lock", err, errsize);
    if (!rc)
        rc = exec(conn, table_sql, PGRES_COMMAND_OK, "creating schema_migrations", err, errsize);
    if (!rc)
        rc = migrations_pg_inspect_list(conn, list, n, &r, err, errsize);
    if (rc)
        goto out;
    rc = migrations_next_pending(&r, list, n, &m, &row, done, err, errsize);
    if (rc || *done)
        goto out;
    PGresult *res = PQexec(conn, m->sql); /* several statements: the simple protocol */
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        char what[200];
        snprintf(what, sizeof what, "migration %04d_%s failed (rolled back)", m->version, m->name);
        rc = fail(conn, res, what, err, errsize);
        if (rc == MIGRATIONS_ERROR)
            rc = MIGRATIONS_FAILED;
        goto out;
    }
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        migrations_set_err(err, errsize,
                           "migration %04d_%s ended the runner's transaction (it must not contain "
                           "BEGIN/COMMIT/ROLLBACK)",
                           m->version, m->name);
        rc = MIGRATIONS_FAILED;
        goto out;
    }
    rc = record(conn, row, err, errsize);
    if (rc)
        goto out;
    res = PQexec(conn, "COMMIT");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT")) {
        rc = fail(conn, res, "committing the migration", err, errsize);
        goto out;
    }
    PQclear(res);
    log_info("applied migration %04d_%s", m->version, m->name);
out:
    migrations_report_clear(&r);
    if ((rc || *done) && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

static enum migrations_result apply_step(void *conn, const struct schema_migration *list, int n,
                                         bool *done, char *err, size_t errsize)
{
    return apply_one(conn, list, n, done, err, errsize);
}

enum migrations_result migrations_pg_apply_list(PGconn *conn, const struct schema_migration *list,
                                                int n, int *napplied, char *err, size_t errsize)
{
    return migrations_apply_steps(apply_step, conn, list, n, napplied, err, errsize);
}

enum migrations_result migrations_pg_apply(PGconn *conn, int *napplied, char *err, size_t errsize)
{
    return migrations_pg_apply_list(conn, schema_migrations_pg_embedded,
                                    schema_migrations_pg_embedded_count, napplied, err, errsize);
}
