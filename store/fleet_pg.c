/* fleet_pg.c — leases and live checkpoints (fleet.h) on PostgreSQL.  Every time is the
 * DATABASE's clock (clock_timestamp(), read in the statement that locks the lease row), never
 * the caller's now_ms: several servers on one database agree on who holds a lease.  A write is
 * one transaction holding the room's lease row FOR UPDATE; the decision is fleet.c's. */
#include "common/log.h"
#include "store/fleet.h"
#include "store/store_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

/* Runs sql with n parameters (text, or binary where lens gives a length: a document is sent
 * as its bytes, no NUL needed); *out is the result when its status is want (else NULL,
 * logged, and the mapped store status returned). */
static enum store_status q(PGconn *c, const char *what, const char *sql, int n,
                           const char *const *vals, const int *lens, ExecStatusType want,
                           PGresult **out)
{
    int fmts[8] = {0};
    for (int i = 0; lens && i < n && i < 8; i++)
        fmts[i] = lens[i] > 0;
    PGresult *res = PQexecParams(c, sql, n, NULL, vals, lens, lens ? fmts : NULL, 0);
    *out = NULL;
    if (res && PQresultStatus(res) == want) {
        *out = res;
        return STORE_OK;
    }
    enum store_status st = store_pg_status_of(c, res);
    log_error("store: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(c));
    PQclear(res);
    return st;
}

static enum store_status cmd(PGconn *c, const char *what, const char *sql, int n,
                             const char *const *vals)
{
    PGresult *res;
    enum store_status st = q(c, what, sql, n, vals, NULL, PGRES_COMMAND_OK, &res);
    PQclear(res);
    return st;
}

static void rollback(PGconn *c)
{
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
}

/* COMMIT when rc is STORE_OK and write is true, else ROLLBACK. */
static enum store_status finish(PGconn *c, enum store_status rc, bool write)
{
    if (rc == STORE_OK && write) {
        PGresult *res;
        rc = q(c, "COMMIT", "COMMIT", 0, NULL, NULL, PGRES_COMMAND_OK, &res);
        if (rc == STORE_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0)
            rc = STORE_ERROR; /* the transaction had failed: COMMIT answered ROLLBACK */
        PQclear(res);
    }
    rollback(c);
    return rc;
}

static int64_t i64(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? -1 : (int64_t)strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* The room's lease row (zeroed when none, *found false) and the database's now; with lock,
 * inside a transaction, FOR UPDATE. */
static enum store_status read_lease(PGconn *c, const char *room_id, bool lock,
                                    struct store_lease *cur, int64_t *now_ms, bool *found)
{
    const char *v[] = {room_id};
    PGresult *res;
    memset(cur, 0, sizeof *cur);
    *found = false;
    enum store_status st = q(c, "reading a lease",
                             lock ? "SELECT coalesce(holder, ''), fence, expires_at_ms, " NOW_MS
                                    " FROM room_leases WHERE room_id = $1 FOR UPDATE"
                                  : "SELECT coalesce(holder, ''), fence, expires_at_ms, " NOW_MS
                                    " FROM room_leases WHERE room_id = $1",
                             1, v, NULL, PGRES_TUPLES_OK, &res);
    if (st)
        return st;
    if (PQntuples(res) == 1) {
        snprintf(cur->holder, sizeof cur->holder, "%s", PQgetvalue(res, 0, 0));
        cur->fence = i64(res, 1);
        cur->expires_at_ms = i64(res, 2);
        *now_ms = i64(res, 3);
        *found = true;
    }
    PQclear(res);
    return STORE_OK;
}

static enum store_status write_lease(PGconn *c, const char *room_id, const struct store_lease *next)
{
    char f[24], e[24];
    snprintf(f, sizeof f, "%" PRId64, next->fence);
    snprintf(e, sizeof e, "%" PRId64, next->expires_at_ms);
    const char *v[] = {room_id, next->holder, f, e};
    return cmd(c, "writing a lease",
               "UPDATE room_leases SET holder = nullif($2, ''), fence = $3::bigint, "
               "expires_at_ms = $4::bigint WHERE room_id = $1",
               4, v);
}

/* BEGIN and the room's lease row, locked. */
static enum store_status begin_read(struct store *s, PGconn **c, const char *room_id,
                                    struct store_lease *cur, int64_t *now_ms, bool *found)
{
    enum store_status st;
    *c = store_pg_conn(s, &st);
    if (!*c)
        return st;
    st = cmd(*c, "BEGIN", "BEGIN", 0, NULL);
    if (st == STORE_OK && (st = read_lease(*c, room_id, true, cur, now_ms, found)) != STORE_OK)
        rollback(*c);
    return st;
}

static enum store_status pg_lease_acquire(struct store *s, const struct store_lease_req *req,
                                          int64_t now_ms, struct store_lease_result *out)
{
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    struct store_lease cur, next;
    bool found;
    const char *v[] = {req->room_id};
    if (!c)
        return st;
    /* the row exists before it is locked: two first acquires of a room queue on it */
    st = cmd(c, "BEGIN", "BEGIN", 0, NULL);
    if (st == STORE_OK)
        st = cmd(c, "creating a lease row",
                 "INSERT INTO room_leases (room_id, holder, fence, expires_at_ms) "
                 "VALUES ($1, NULL, 0, 0) ON CONFLICT (room_id) DO NOTHING",
                 1, v);
    if (st == STORE_OK)
        st = read_lease(c, req->room_id, true, &cur, &now_ms, &found);
    if (st == STORE_OK && !found) {
        log_error("store: lease row of %s missing after its insert", req->room_id);
        st = STORE_ERROR;
    }
    bool ok = st == STORE_OK && store_lease_decide(&cur, req, now_ms, &next, out) == STORE_LEASE_OK;
    if (ok)
        st = write_lease(c, req->room_id, &next);
    return finish(c, st, ok);
}

static enum store_status pg_lease_release(struct store *s, const char *room_id, int64_t fence,
                                          int64_t now_ms, enum store_lease_outcome *out)
{
    PGconn *c;
    struct store_lease cur, next;
    bool found;
    enum store_status st = begin_read(s, &c, room_id, &cur, &now_ms, &found);
    if (st)
        return st;
    *out = store_lease_release_decide(&cur, fence, &next);
    if (*out == STORE_LEASE_OK)
        st = write_lease(c, room_id, &next);
    return finish(c, st, *out == STORE_LEASE_OK);
}

static enum store_status pg_lease_get(struct store *s, const char *room_id, int64_t now_ms,
                                      struct store_lease_result *out)
{
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    struct store_lease cur;
    bool found;
    if (!c)
        return st;
    st = read_lease(c, room_id, false, &cur, &now_ms, &found);
    return st ? st : store_lease_view(&cur, now_ms, out); /* no row: not live */
}

static enum store_status write_ckpt(PGconn *c, const struct store_ckpt_req *req,
                                    struct store_ckpt *out, int64_t now_ms)
{
    char f[24], at[24], ttl[24], len[24];
    PGresult *res;
    snprintf(f, sizeof f, "%" PRId64, req->fence);
    snprintf(at, sizeof at, "%" PRId64, now_ms);
    snprintf(ttl, sizeof ttl, "%" PRId64, req->ttl_ms);
    snprintf(len, sizeof len, "%zu", req->doc_len);
    const char *v[] = {req->room_id, f, at, ttl, len, req->doc};
    const int lens[] = {0, 0, 0, 0, 0, (int)req->doc_len};
    /* saved_version: the room's current saved version, read in this transaction */
    enum store_status st =
        q(c, "writing a checkpoint",
          "INSERT INTO room_checkpoints (room_id, fence, checkpointed_at_ms, expires_at_ms, "
          "saved_version, bytes, doc) SELECT $1, $2::bigint, $3::bigint, $3::bigint + $4::bigint, "
          "(SELECT current_version FROM rooms WHERE room_id = $1), $5::bigint, $6::text "
          "ON CONFLICT (room_id) DO UPDATE SET fence = excluded.fence, checkpointed_at_ms = "
          "excluded.checkpointed_at_ms, expires_at_ms = excluded.expires_at_ms, saved_version = "
          "excluded.saved_version, bytes = excluded.bytes, doc = excluded.doc "
          "RETURNING coalesce(saved_version, -1)",
          6, v, lens, PGRES_TUPLES_OK, &res);
    if (st)
        return st;
    out->saved_version = PQntuples(res) == 1 ? i64(res, 0) : -1;
    PQclear(res);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", STORE_CKPT_PURGE_BATCH);
    const char *pv[] = {at, lim};
    return cmd(c, "removing expired checkpoints",
               "DELETE FROM room_checkpoints WHERE room_id IN (SELECT room_id FROM "
               "room_checkpoints WHERE expires_at_ms <= $1::bigint LIMIT $2::int)",
               2, pv);
}

static enum store_status pg_ckpt_put(struct store *s, const struct store_ckpt_req *req,
                                     int64_t now_ms, struct store_ckpt *out)
{
    PGconn *c;
    struct store_lease cur;
    bool found;
    if (memchr(req->doc, '\0', req->doc_len)) {
        log_bug("store_ckpt_put: a NUL byte in a JSON document");
        return STORE_ERROR;
    }
    enum store_status st = begin_read(s, &c, req->room_id, &cur, &now_ms, &found);
    if (st)
        return st;
    if (!store_lease_fence_holds(&cur, req->fence)) {
        out->outcome = STORE_LEASE_LOST;
        return finish(c, st, false);
    }
    out->fence = req->fence;
    out->checkpointed_at_ms = now_ms;
    out->expires_in_ms = req->ttl_ms;
    out->bytes = (int64_t)req->doc_len;
    st = finish(c, write_ckpt(c, req, out, now_ms), true);
    out->outcome = STORE_LEASE_OK;
    return st;
}

static enum store_status pg_ckpt_get(struct store *s, const char *room_id, int64_t now_ms,
                                     struct store_ckpt *out)
{
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    PGresult *res;
    const char *v[] = {room_id};
    (void)now_ms;
    if (!c)
        return st;
    st = q(c, "reading a checkpoint",
           "SELECT fence, checkpointed_at_ms, expires_at_ms - " NOW_MS ", saved_version, doc "
           "FROM room_checkpoints WHERE room_id = $1 AND expires_at_ms > " NOW_MS,
           1, v, NULL, PGRES_TUPLES_OK, &res);
    if (st)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return STORE_NOT_FOUND;
    }
    out->fence = i64(res, 0);
    out->checkpointed_at_ms = i64(res, 1);
    out->expires_in_ms = i64(res, 2);
    out->saved_version = i64(res, 3);
    size_t n = (size_t)PQgetlength(res, 0, 4);
    out->bytes = (int64_t)n;
    out->doc = malloc(n + 1);
    if (out->doc) {
        memcpy(out->doc, PQgetvalue(res, 0, 4), n + 1);
        out->outcome = STORE_LEASE_OK;
    } else {
        log_error("store: out of memory reading a checkpoint");
        st = STORE_ERROR;
    }
    PQclear(res);
    return st;
}

static enum store_status pg_ckpt_delete(struct store *s, const char *room_id, int64_t fence,
                                        int64_t now_ms, enum store_lease_outcome *out)
{
    PGconn *c;
    struct store_lease cur;
    bool found;
    PGresult *res;
    const char *v[] = {room_id};
    enum store_status st = begin_read(s, &c, room_id, &cur, &now_ms, &found);
    if (st)
        return st;
    if (cur.fence != fence) {
        *out = STORE_LEASE_LOST;
        return finish(c, st, false);
    }
    st = q(c, "deleting a checkpoint", "DELETE FROM room_checkpoints WHERE room_id = $1", 1, v,
           NULL, PGRES_COMMAND_OK, &res);
    if (st == STORE_OK) {
        *out = strcmp(PQcmdTuples(res), "0") != 0 ? STORE_LEASE_OK : STORE_LEASE_NONE;
        PQclear(res);
    }
    return finish(c, st, true);
}

const struct store_fleet_ops store_fleet_pg_ops = {
    .lease_acquire = pg_lease_acquire,
    .lease_release = pg_lease_release,
    .lease_get = pg_lease_get,
    .ckpt_put = pg_ckpt_put,
    .ckpt_get = pg_ckpt_get,
    .ckpt_delete = pg_ckpt_delete,
};
