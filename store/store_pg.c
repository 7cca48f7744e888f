/* store_pg.c — the PostgreSQL backend of store.h (see store_pg.h).
 *
 * Tables (schema/postgres/0001_rooms.sql) are those of the SQLite backend.  A save is one
 * READ COMMITTED transaction that first locks the room's counter row (inserting it when the
 * room is new, then SELECT ... FOR UPDATE): saves of one room through any number of
 * servers are serialized by that row lock, so versions stay contiguous and an If-Match is
 * checked against the committed current version.  The reply is sent only after COMMIT
 * returned (synchronous_commit as configured on the server: on by default, durable). */
#include "store/store_pg.h"

#include "common/config.h"
#include "common/log.h"
#include "store/fleet.h"
#include "store/migrations_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_PREPARED_MAX 16 /* distinct parameterized statements of this file */

struct pg_store {
    struct store base; /* first: a struct store * points here */
    PGconn *conn;
    char *conninfo;
    /* statements prepared on this connection (named "rs<index>"), keyed by the address of
     * their SQL text (string literals of this file); cleared when the connection is new */
    const char *prepared[PG_PREPARED_MAX];
    int nprepared;
    int lock_wait_ms; /* store_options.lock_wait_ms: the session's lock_timeout */
};

static struct pg_store *impl(struct store *s)
{
    return (struct pg_store *)s;
}

/* ---- connections ----------------------------------------------------------------------- */

/* libpq's message without its trailing newline(s), on one line. */
static void one_line(const char *msg, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; msg && msg[i] && j + 1 < size; i++)
        out[j++] = (msg[i] == '\n' || msg[i] == '\r') ? ' ' : msg[i];
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

void store_pg_describe(const char *conninfo, char *out, size_t size)
{
    char *perr = NULL;
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        char why[256];
        one_line(perr ? perr : "out of memory", why, sizeof why);
        snprintf(out, size, "an invalid connection string (%s)", why);
        PQfreemem(perr);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host") || (!host && !strcmp(o->keyword, "hostaddr")))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
    }
    snprintf(out, size, "PostgreSQL at host %s port %s, database %s, user %s",
             host ? host : "(default)", port ? port : "5432", db ? db : "(default)",
             user ? user : "(default)");
    PQconninfoFree(opts);
}

/* The server's notices ("relation ... already exists, skipping") go to the debug log. */
static void notice_to_log(void *arg, const char *msg)
{
    char line[512];
    (void)arg;
    one_line(msg, line, sizeof line);
    log_debug("postgres: %s", line);
}

enum store_status store_pg_connect(const char *conninfo, PGconn **out, char *err, size_t errsize)
{
    char who[512], why[512];
    const char *perr = NULL;
    char *password = NULL;
    const char *pwfile = getenv("ROOMSTATE_DB_PASSWORD_FILE");
    enum store_status rc = STORE_ERROR;
    PGconn *conn = NULL;
    *out = NULL;
    store_pg_describe(conninfo, who, sizeof who);
    if (pwfile && pwfile[0]) {
        password = config_read_secret(pwfile, NULL, &perr);
        if (!password) {
            snprintf(err, errsize, "ROOMSTATE_DB_PASSWORD_FILE %s: %s", pwfile,
                     perr ? perr : "unreadable");
            return STORE_ERROR;
        }
    }
    /* later keywords win over what dbname (the expanded connection string) set */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "password", NULL};
    const char *vals[] = {conninfo, STORE_PG_CONNECT_TIMEOUT_S, "roomstate", password, NULL};
    conn = PQconnectdbParams(keys, vals, 1);
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
    if (!conn) {
        snprintf(err, errsize, "cannot connect to %s: out of memory", who);
        return STORE_ERROR;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        one_line(PQerrorMessage(conn), why, sizeof why);
        snprintf(err, errsize, "cannot connect to %s: %s", who, why);
        /* refused credentials, a missing database or a bad option are not worth retrying;
         * anything else (unreachable, starting up, shutting down, recovering) is */
        rc = (strstr(why, "authentication failed") || strstr(why, "no password supplied") ||
              strstr(why, "does not exist") || strstr(why, "invalid") ||
              strstr(why, "permission denied") || strstr(why, "not permitted"))
                 ? STORE_ERROR
                 : STORE_BUSY;
        PQfinish(conn);
        return rc;
    }
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    *out = conn;
    return STORE_OK;
}

enum store_status store_pg_status_of(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(conn) != CONNECTION_OK)
        return STORE_BUSY;
    if (!state)
        return res ? STORE_ERROR : STORE_BUSY; /* no result: the connection failed */
    if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") ||
        !strcmp(state, "57P03") || !strcmp(state, "40001") || !strcmp(state, "40P01") ||
        !strcmp(state, "53300") || !strcmp(state, "55P03"))
        return STORE_BUSY; /* 55P03: a row lock held longer than lock_timeout */
    if (!strcmp(state, "53100"))
        return STORE_FULL; /* disk_full: the transaction is rolled back */
    return STORE_ERROR;
}

/* A new session's settings: a save waits for another transaction's row lock (the room's
 * counter row, held by a save on another server) lock_wait_ms at most, then fails with
 * 55P03 (STORE_BUSY, answered 503 with Retry-After). */
static enum store_status session_setup(struct pg_store *s)
{
    char sql[64];
    /* 0 would mean "no limit" to PostgreSQL: the shortest wait it has instead */
    snprintf(sql, sizeof sql, "SET lock_timeout = %d", s->lock_wait_ms > 0 ? s->lock_wait_ms : 1);
    PGresult *res = PQexec(s->conn, sql);
    enum store_status rc = res && PQresultStatus(res) == PGRES_COMMAND_OK
                               ? STORE_OK
                               : store_pg_status_of(s->conn, res);
    if (rc)
        log_warn("store: %s: %s", sql, PQerrorMessage(s->conn));
    PQclear(res);
    return rc;
}

/* A usable connection: re-established when the last one broke. */
static enum store_status ensure(struct pg_store *s)
{
    char err[768];
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) == PQTRANS_IDLE)
        return STORE_OK;
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->nprepared = 0; /* prepared statements belong to the old session */
    enum store_status rc = store_pg_connect(s->conninfo, &s->conn, err, sizeof err);
    if (rc) {
        /* this connection worked before: whatever broke it is the database's outage */
        log_warn("store: %s", err);
        return STORE_BUSY;
    }
    log_info("store: reconnected to PostgreSQL");
    return session_setup(s);
}

/* ---- statements ------------------------------------------------------------------------ */

/* The name of sql prepared on s's connection (prepared now on first use), or NULL (then
 * *res is the failed PQprepare result, or NULL). */
static const char *prepared(struct pg_store *s, const char *sql, int n, PGresult **res,
                            char name[16])
{
    int i = 0;
    *res = NULL;
    while (i < s->nprepared && s->prepared[i] != sql)
        i++;
    snprintf(name, 16, "rs%d", i);
    if (i < s->nprepared)
        return name;
    if (i >= PG_PREPARED_MAX)
        return NULL; /* not expected: unprepared from here on */
    PGresult *r = PQprepare(s->conn, name, sql, n, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        *res = r;
        return NULL;
    }
    PQclear(r);
    s->prepared[s->nprepared++] = sql;
    return name;
}

/* Runs sql (a string literal: it keys the prepared statement) with n parameters; *out is
 * the result when it has the expected status. */
static enum store_status run(struct pg_store *s, const char *what, const char *sql, int n,
                             const char *const *vals, const int *lens, const int *fmts,
                             ExecStatusType want, PGresult **out)
{
    char name[16];
    PGresult *res = NULL;
    const char *stmt = n > 0 ? prepared(s, sql, n, &res, name) : NULL;
    *out = NULL;
    if (stmt)
        res = PQexecPrepared(s->conn, stmt, n, vals, lens, fmts, 0);
    else if (!res)
        res = PQexecParams(s->conn, sql, n, NULL, vals, lens, fmts, 0);
    if (res && PQresultStatus(res) == want) {
        *out = res;
        return STORE_OK;
    }
    enum store_status rc = store_pg_status_of(s->conn, res);
    if (rc == STORE_BUSY)
        log_warn("store: %s: database unavailable: %s", what, PQerrorMessage(s->conn));
    else
        log_error("store: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
    PQclear(res);
    return rc;
}

/* A read on its own (one statement, one snapshot): reconnects first when needed. */
/* True when rc came from a connection that turned out dead (the server restarted since its
 * last use): then a statement that changed nothing may run again on a new connection. */
static bool lost(struct pg_store *s, enum store_status rc)
{
    return rc == STORE_BUSY && s->conn && PQstatus(s->conn) == CONNECTION_BAD;
}

static enum store_status select_rows(struct pg_store *s, const char *what, const char *sql, int n,
                                     const char *const *vals, PGresult **out)
{
    enum store_status rc = STORE_BUSY;
    *out = NULL;
    /* a read changes nothing: once more on a fresh connection when the old one was dead */
    for (int attempt = 0; attempt < 2 && (attempt == 0 || lost(s, rc)); attempt++) {
        rc = ensure(s);
        if (rc == STORE_OK)
            rc = run(s, what, sql, n, vals, NULL, NULL, PGRES_TUPLES_OK, out);
    }
    return rc;
}

static enum store_status exec0(struct pg_store *s, const char *what, const char *sql, int n,
                               const char *const *vals)
{
    PGresult *res = NULL;
    enum store_status rc = run(s, what, sql, n, vals, NULL, NULL, PGRES_COMMAND_OK, &res);
    PQclear(res);
    return rc;
}

/* A usable connection and an open transaction. */
static enum store_status begin(struct pg_store *s)
{
    enum store_status rc = STORE_BUSY;
    /* BEGIN changes nothing: once more on a fresh connection when the old one was dead */
    for (int attempt = 0; attempt < 2 && (attempt == 0 || lost(s, rc)); attempt++) {
        rc = ensure(s);
        if (rc == STORE_OK)
            rc = exec0(s, "BEGIN", "BEGIN", 0, NULL);
    }
    return rc;
}

static void rollback(struct pg_store *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

static enum store_status commit(struct pg_store *s)
{
    PGresult *res = NULL;
    enum store_status rc = run(s, "COMMIT", "COMMIT", 0, NULL, NULL, NULL, PGRES_COMMAND_OK, &res);
    /* COMMIT of a transaction that failed answers ROLLBACK */
    if (rc == STORE_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        log_error("store: COMMIT answered %s", PQcmdStatus(res));
        rc = STORE_ERROR;
    }
    PQclear(res);
    return rc;
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return (int64_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void col_str(const PGresult *res, int row, int col, char *dst, size_t size)
{
    snprintf(dst, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), (const char *)buf)

/* Locks the room's counter row and reads last_version (0: none yet) and current_version
 * (0: no state).  create: inserts the row first when missing (last_version 0, which the
 * save sets to its version before committing).  *exists: the row is there. */
static enum store_status lock_counter(struct pg_store *s, const char *room_id, int64_t now_ms,
                                      bool create, bool *exists, int64_t *last, int64_t *current)
{
    char nb[24];
    PGresult *res = NULL;
    enum store_status rc;
    *exists = false;
    *last = *current = 0;
    if (create) {
        const char *v[] = {room_id, I64(nb, now_ms)};
        rc = exec0(s, "creating the room counter",
                   "INSERT INTO rooms (room_id, last_version, current_version, updated_at_ms) "
                   "VALUES ($1, 0, NULL, $2::bigint) ON CONFLICT (room_id) DO NOTHING",
                   2, v);
        if (rc)
            return rc;
    }
    const char *v[] = {room_id};
    rc = run(s, "reading the room counter",
             "SELECT last_version, coalesce(current_version, 0) FROM rooms "
             "WHERE room_id = $1 FOR UPDATE",
             1, v, NULL, NULL, PGRES_TUPLES_OK, &res);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        *exists = true;
        *last = col_i64(res, 0, 0);
        *current = col_i64(res, 0, 1);
    }
    PQclear(res);
    return STORE_OK;
}

static enum store_status save_in_txn(struct pg_store *s, const struct store_save_req *req,
                                     struct store_save_result *res)
{
    static const struct store_saved_by nobody;
    const struct store_saved_by *by = req->saved_by ? req->saved_by : &nobody;
    char vb[24], tb[24], ob[24], bb[24], pb[24];
    bool exists;
    int64_t last, current;
    enum store_status rc =
        lock_counter(s, req->room_id, req->saved_at_ms, true, &exists, &last, &current);
    if (rc)
        return rc;
    if (!exists) {
        log_error("store: room %s has no counter row after creating it", req->room_id);
        return STORE_ERROR;
    }
    if (req->if_match >= 0 && (current == 0 || current != req->if_match))
        return STORE_PRECONDITION_FAILED;
    int64_t version = last + 1;
    const char *up[] = {req->room_id, I64(vb, version), I64(tb, req->saved_at_ms)};
    rc = exec0(s, "updating the room counter",
               "UPDATE rooms SET last_version = $2::bigint, current_version = $2::bigint, "
               "updated_at_ms = $3::bigint WHERE room_id = $1",
               3, up);
    if (rc)
        return rc;
    /* the document goes as binary (its bytes, with their length: text's wire format) */
    const char *ins[] = {req->room_id,
                         vb,
                         tb,
                         by->user_id,
                         by->username,
                         by->service,
                         I64(ob, req->objects_saved),
                         I64(bb, (int64_t)req->doc_len),
                         req->doc};
    const int lens[] = {0, 0, 0, 0, 0, 0, 0, 0, (int)req->doc_len};
    const int fmts[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    PGresult *r = NULL;
    rc = run(s, "inserting the version",
             "INSERT INTO room_versions (room_id, version, saved_at_ms, user_id, username, "
             "service, objects_saved, bytes, doc) VALUES ($1, $2::bigint, $3::bigint, $4, $5, "
             "$6, $7::bigint, $8::bigint, $9::text)",
             9, ins, lens, fmts, PGRES_COMMAND_OK, &r);
    PQclear(r);
    if (rc)
        return rc;
    /* versions of a room's history are contiguous (a DELETE removes all of them) */
    const char *pr[] = {req->room_id, I64(pb, version - req->history_keep)};
    rc = exec0(s, "pruning the history",
               "DELETE FROM room_versions WHERE room_id = $1 AND version <= $2::bigint", 2, pr);
    if (rc)
        return rc;
    res->version = version;
    res->created = (last == 0);
    return STORE_OK;
}

static enum store_status pg_room_save(struct store *base, const struct store_save_req *req,
                                      struct store_save_result *res)
{
    struct pg_store *s = impl(base);
    memset(res, 0, sizeof *res);
    if (memchr(req->doc, '\0', req->doc_len)) {
        log_bug("store_room_save: a NUL byte in the document (PostgreSQL text cannot hold it)");
        return STORE_ERROR;
    }
    enum store_status rc = begin(s);
    if (rc == STORE_OK)
        rc = save_in_txn(s, req, res);
    if (rc == STORE_OK)
        rc = commit(s);
    if (rc) {
        rollback(s);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

static enum store_status pg_room_delete(struct store *base, const char *room_id, int64_t if_match)
{
    struct pg_store *s = impl(base);
    bool exists;
    int64_t last, current;
    enum store_status rc = begin(s);
    if (rc == STORE_OK)
        rc = lock_counter(s, room_id, 0, false, &exists, &last, &current);
    if (rc == STORE_OK && current == 0)
        rc = STORE_NOT_FOUND;
    if (rc == STORE_OK && if_match >= 0 && if_match != current)
        rc = STORE_PRECONDITION_FAILED;
    const char *v[] = {room_id};
    if (rc == STORE_OK)
        rc = exec0(s, "deleting the history", "DELETE FROM room_versions WHERE room_id = $1", 1, v);
    if (rc == STORE_OK)
        rc = exec0(s, "clearing the room",
                   "UPDATE rooms SET current_version = NULL WHERE room_id = $1", 1, v);
    if (rc == STORE_OK)
        rc = commit(s);
    if (rc)
        rollback(s);
    return rc;
}

/* ---- reads (each one statement: one consistent snapshot) ------------------------------- */

static enum store_status pg_room_get(struct store *base, const char *room_id, int64_t version,
                                     int64_t unless_version, struct store_state *out)
{
    struct pg_store *s = impl(base);
    char vb[24];
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    enum store_status rc;
    const char *v[] = {room_id, I64(vb, version ? version : unless_version)};
    if (version == 0)
        rc = select_rows(s, "reading the state",
                         "SELECT v.version, v.saved_at_ms, v.user_id, v.username, v.service, "
                         "v.objects_saved, CASE WHEN v.version = $2::bigint THEN NULL "
                         "ELSE v.doc END FROM rooms r JOIN room_versions v "
                         "ON v.room_id = r.room_id AND v.version = r.current_version "
                         "WHERE r.room_id = $1",
                         2, v, &res);
    else
        rc = select_rows(
            s, "reading the state",
            "SELECT version, saved_at_ms, user_id, username, service, objects_saved, doc "
            "FROM room_versions WHERE room_id = $1 AND version = $2::bigint",
            2, v, &res);
    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return STORE_NOT_FOUND;
    }
    out->version = col_i64(res, 0, 0);
    out->saved_at_ms = col_i64(res, 0, 1);
    col_str(res, 0, 2, out->saved_by.user_id, sizeof out->saved_by.user_id);
    col_str(res, 0, 3, out->saved_by.username, sizeof out->saved_by.username);
    col_str(res, 0, 4, out->saved_by.service, sizeof out->saved_by.service);
    out->objects_saved = col_i64(res, 0, 5);
    if (!version && unless_version && out->version == unless_version) {
        PQclear(res); /* the caller has this document */
        return STORE_OK;
    }
    size_t len = (size_t)PQgetlength(res, 0, 6);
    if (!store_state_doc_alloc(out, len)) {
        log_error("store: out of memory reading %zu bytes", len);
        PQclear(res);
        store_state_clear(out);
        return STORE_ERROR;
    }
    memcpy(out->doc, PQgetvalue(res, 0, 6), len);
    PQclear(res);
    return STORE_OK;
}

static enum store_status pg_room_version(struct store *base, const char *room_id, int64_t *version)
{
    struct pg_store *s = impl(base);
    PGresult *res = NULL;
    *version = 0;
    if (!room_id)
        return STORE_ERROR;
    const char *v[] = {room_id};
    enum store_status rc = select_rows(
        s, "reading the version",
        "SELECT current_version FROM rooms WHERE room_id = $1 AND current_version IS NOT "
        "NULL",
        1, v, &res);
    if (rc)
        return rc;
    if (PQntuples(res) == 1)
        *version = col_i64(res, 0, 0);
    else
        rc = STORE_NOT_FOUND;
    PQclear(res);
    return rc;
}

static enum store_status pg_room_versions(struct store *base, const char *room_id,
                                          struct store_version_info **out, size_t *n)
{
    struct pg_store *s = impl(base);
    PGresult *res = NULL;
    *out = NULL;
    *n = 0;
    if (!room_id)
        return STORE_ERROR;
    const char *v[] = {room_id};
    enum store_status rc =
        select_rows(s, "listing versions",
                    "SELECT version, saved_at_ms, user_id, username, service, objects_saved, bytes "
                    "FROM room_versions WHERE room_id = $1 ORDER BY version DESC",
                    1, v, &res);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return STORE_NOT_FOUND;
    }
    struct store_version_info *vs = calloc((size_t)rows, sizeof *vs);
    if (!vs) {
        PQclear(res);
        log_error("store: out of memory listing versions");
        return STORE_ERROR;
    }
    for (int i = 0; i < rows; i++) {
        vs[i].version = col_i64(res, i, 0);
        vs[i].saved_at_ms = col_i64(res, i, 1);
        col_str(res, i, 2, vs[i].saved_by.user_id, sizeof vs[i].saved_by.user_id);
        col_str(res, i, 3, vs[i].saved_by.username, sizeof vs[i].saved_by.username);
        col_str(res, i, 4, vs[i].saved_by.service, sizeof vs[i].saved_by.service);
        vs[i].objects_saved = col_i64(res, i, 5);
        vs[i].bytes = col_i64(res, i, 6);
    }
    PQclear(res);
    *out = vs;
    *n = (size_t)rows;
    return STORE_OK;
}

/* ---- open, close, ready ---------------------------------------------------------------- */

static enum store_status schema_current(PGconn *conn, const char *who, char *err, size_t errsize)
{
    char why[512];
    enum migrations_result mr = migrations_pg_check_current(conn, why, sizeof why);
    switch (mr) {
    case MIGRATIONS_OK:
        return STORE_OK;
    case MIGRATIONS_PENDING:
        snprintf(err, errsize,
                 "database schema of %s is not current (%s): run `roomstate-migrate --db URI up`",
                 who, why);
        return STORE_SCHEMA_NOT_CURRENT;
    case MIGRATIONS_MODIFIED:
    case MIGRATIONS_UNKNOWN:
        snprintf(err, errsize,
                 "database schema of %s does not match this binary (%s): see `roomstate-migrate "
                 "--db URI verify`",
                 who, why);
        return STORE_SCHEMA_NOT_CURRENT;
    case MIGRATIONS_BUSY:
        snprintf(err, errsize, "checking the schema of %s: %s", who, why);
        return STORE_BUSY;
    default:
        snprintf(err, errsize, "checking the schema of %s: %s", who, why);
        return STORE_ERROR;
    }
}

static void pg_close(struct store *base)
{
    struct pg_store *s = impl(base);
    if (s->conn)
        PQfinish(s->conn);
    free(s->conninfo);
    free(s);
}

static enum store_status pg_open(const char *conninfo, const struct store_options *opts,
                                 struct store **out, char *err, size_t errsize)
{
    char dummy[1], who[512];
    if (!err || errsize == 0) {
        err = dummy;
        errsize = sizeof dummy;
    }
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s || !(s->conninfo = strdup(conninfo))) {
        free(s);
        snprintf(err, errsize, "out of memory");
        return STORE_ERROR;
    }
    s->base.ops = &store_pg_ops;
    s->lock_wait_ms = !opts                     ? STORE_LOCK_WAIT_MS_DEFAULT
                      : opts->lock_wait_ms >= 0 ? opts->lock_wait_ms
                                                : 0;
    enum store_status rc = store_pg_connect(conninfo, &s->conn, err, errsize);
    if (rc == STORE_OK && session_setup(s) != STORE_OK) {
        snprintf(err, errsize, "setting lock_timeout: %s", PQerrorMessage(s->conn));
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK) {
        store_pg_describe(conninfo, who, sizeof who);
        rc = schema_current(s->conn, who, err, errsize);
    }
    if (rc) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return STORE_OK;
}

static bool pg_ready(struct store *base)
{
    struct pg_store *s = impl(base);
    char err[768], who[512];
    if (ensure(s) != STORE_OK)
        return false;
    store_pg_describe(s->conninfo, who, sizeof who);
    if (schema_current(s->conn, who, err, sizeof err) == STORE_OK)
        return true;
    log_warn("store: not ready: %s", err);
    return false;
}

PGconn *store_pg_conn(struct store *base, enum store_status *st)
{
    struct pg_store *s = impl(base);
    *st = ensure(s);
    return *st == STORE_OK ? s->conn : NULL;
}

const struct store_ops store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .ready = pg_ready,
    .room_save = pg_room_save,
    .room_get = pg_room_get,
    .room_version = pg_room_version,
    .room_versions = pg_room_versions,
    .room_delete = pg_room_delete,
    .rooms_list = store_pg_rooms_list,
    .room_counter = store_pg_room_counter,
    .room_import = store_pg_room_import,
    .fleet = &store_fleet_pg_ops,
};
