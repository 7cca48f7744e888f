/* fleet_sqlite.c — leases and live checkpoints (fleet.h) on SQLite: each write is one BEGIN
 * IMMEDIATE transaction on the store's own connection (synchronous=FULL: durable at
 * COMMIT), the lease row read, decided by fleet.c, written.  Times are the caller's now_ms
 * (the server's wall clock). */
#include "common/log.h"
#include "store/fleet.h"
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum store_status fail(sqlite3 *db, int src, const char *what)
{
    if (src == SQLITE_BUSY || src == SQLITE_LOCKED) {
        log_warn("store: %s: database busy", what);
        return STORE_BUSY;
    }
    log_error("store: %s: %s (%d)", what, sqlite3_errmsg(db), src);
    return STORE_ERROR;
}

static enum store_status exec(sqlite3 *db, const char *sql)
{
    int src = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? STORE_OK : fail(db, src, sql);
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db) && sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        log_error("store: ROLLBACK: %s", sqlite3_errmsg(db));
}

/* A statement with room_id bound to ?1; NULL (logged, *rc set) on failure. */
static sqlite3_stmt *prep(sqlite3 *db, const char *sql, const char *room_id, enum store_status *rc)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
    if (src != SQLITE_OK) {
        *rc = fail(db, src, "preparing a fleet statement");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Runs a statement that returns no row, and finalizes it. */
static enum store_status run(sqlite3 *db, sqlite3_stmt *st, int src, const char *what)
{
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
    }
    enum store_status rc = src == SQLITE_OK ? STORE_OK : fail(db, src, what);
    sqlite3_finalize(st);
    return rc;
}

/* The room's lease row (zeroed when none). */
static enum store_status read_lease(sqlite3 *db, const char *room_id, struct store_lease *cur)
{
    enum store_status rc = STORE_ERROR;
    memset(cur, 0, sizeof *cur);
    sqlite3_stmt *st = prep(db,
                            "SELECT coalesce(holder, ''), fence, expires_at_ms FROM room_leases "
                            "WHERE room_id = ?1",
                            room_id, &rc);
    if (!st)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 0);
        snprintf(cur->holder, sizeof cur->holder, "%s", h ? (const char *)h : "");
        cur->fence = sqlite3_column_int64(st, 1);
        cur->expires_at_ms = sqlite3_column_int64(st, 2);
        rc = STORE_OK;
    } else {
        rc = src == SQLITE_DONE ? STORE_OK : fail(db, src, "reading a lease");
    }
    sqlite3_finalize(st);
    return rc;
}

static enum store_status write_lease(sqlite3 *db, const char *room_id,
                                     const struct store_lease *next)
{
    enum store_status rc = STORE_ERROR;
    sqlite3_stmt *st = prep(db,
                            "INSERT INTO room_leases (room_id, holder, fence, expires_at_ms) "
                            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room_id) DO UPDATE SET "
                            "holder = excluded.holder, fence = excluded.fence, "
                            "expires_at_ms = excluded.expires_at_ms",
                            room_id, &rc);
    if (!st)
        return rc;
    int src = next->holder[0] ? sqlite3_bind_text(st, 2, next->holder, -1, SQLITE_STATIC)
                              : sqlite3_bind_null(st, 2);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, next->fence);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, next->expires_at_ms);
    return run(db, st, src, "writing a lease");
}

/* BEGIN IMMEDIATE and the room's lease row. */
static enum store_status begin_read(sqlite3 *db, const char *room_id, struct store_lease *cur)
{
    enum store_status rc = exec(db, "BEGIN IMMEDIATE");
    if (rc == STORE_OK && (rc = read_lease(db, room_id, cur)) != STORE_OK)
        rollback(db);
    return rc;
}

/* COMMIT when rc is STORE_OK and write is true, else ROLLBACK. */
static enum store_status finish(sqlite3 *db, enum store_status rc, bool write)
{
    if (rc == STORE_OK && write)
        rc = exec(db, "COMMIT");
    rollback(db);
    return rc;
}

static enum store_status sq_lease_acquire(struct store *s, const struct store_lease_req *req,
                                          int64_t now_ms, struct store_lease_result *out)
{
    sqlite3 *db = store_sqlite_db(s);
    struct store_lease cur, next;
    enum store_status rc = begin_read(db, req->room_id, &cur);
    if (rc)
        return rc;
    bool ok = store_lease_decide(&cur, req, now_ms, &next, out) == STORE_LEASE_OK;
    if (ok)
        rc = write_lease(db, req->room_id, &next);
    return finish(db, rc, ok);
}

static enum store_status sq_lease_release(struct store *s, const char *room_id, int64_t fence,
                                          int64_t now_ms, enum store_lease_outcome *out)
{
    sqlite3 *db = store_sqlite_db(s);
    struct store_lease cur, next;
    (void)now_ms;
    enum store_status rc = begin_read(db, room_id, &cur);
    if (rc)
        return rc;
    *out = store_lease_release_decide(&cur, fence, &next);
    if (*out == STORE_LEASE_OK)
        rc = write_lease(db, room_id, &next);
    return finish(db, rc, *out == STORE_LEASE_OK);
}

static enum store_status sq_lease_get(struct store *s, const char *room_id, int64_t now_ms,
                                      struct store_lease_result *out)
{
    struct store_lease cur;
    enum store_status rc = read_lease(store_sqlite_db(s), room_id, &cur);
    return rc ? rc : store_lease_view(&cur, now_ms, out);
}

/* The room's current saved version, -1 when none. */
static enum store_status saved_version(sqlite3 *db, const char *room_id, int64_t *out)
{
    enum store_status rc = STORE_ERROR;
    *out = -1;
    sqlite3_stmt *st =
        prep(db, "SELECT current_version FROM rooms WHERE room_id = ?1", room_id, &rc);
    if (!st)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        sqlite3_column_int64(st, 0) > 0)
        *out = sqlite3_column_int64(st, 0);
    rc = (src == SQLITE_ROW || src == SQLITE_DONE) ? STORE_OK : fail(db, src, "reading a version");
    sqlite3_finalize(st);
    return rc;
}

static enum store_status write_ckpt(sqlite3 *db, const struct store_ckpt_req *req,
                                    const struct store_ckpt *c, int64_t expires_at_ms)
{
    enum store_status rc = STORE_ERROR;
    sqlite3_stmt *st =
        prep(db,
             "INSERT INTO room_checkpoints (room_id, fence, checkpointed_at_ms, expires_at_ms, "
             "saved_version, bytes, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (room_id) "
             "DO UPDATE SET fence = excluded.fence, checkpointed_at_ms = "
             "excluded.checkpointed_at_ms, expires_at_ms = excluded.expires_at_ms, saved_version "
             "= excluded.saved_version, bytes = excluded.bytes, doc = excluded.doc",
             req->room_id, &rc);
    if (!st)
        return rc;
    int src = sqlite3_bind_int64(st, 2, c->fence);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, c->checkpointed_at_ms);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, expires_at_ms);
    if (src == SQLITE_OK)
        src = c->saved_version >= 0 ? sqlite3_bind_int64(st, 5, c->saved_version)
                                    : sqlite3_bind_null(st, 5);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 6, c->bytes);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob(st, 7, req->doc, (int)req->doc_len, SQLITE_STATIC);
    return run(db, st, src, "writing a checkpoint");
}

/* Removes up to STORE_CKPT_PURGE_BATCH expired checkpoints of any room. */
static enum store_status purge(sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(db,
                                 "DELETE FROM room_checkpoints WHERE room_id IN (SELECT room_id "
                                 "FROM room_checkpoints WHERE expires_at_ms <= ?1 LIMIT ?2)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 1, now_ms);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 2, STORE_CKPT_PURGE_BATCH);
    return run(db, st, src, "removing expired checkpoints");
}

static enum store_status sq_ckpt_put(struct store *s, const struct store_ckpt_req *req,
                                     int64_t now_ms, struct store_ckpt *out)
{
    sqlite3 *db = store_sqlite_db(s);
    struct store_lease cur;
    enum store_status rc = begin_read(db, req->room_id, &cur);
    if (rc)
        return rc;
    if (!store_lease_fence_holds(&cur, req->fence)) {
        out->outcome = STORE_LEASE_LOST;
        return finish(db, rc, false);
    }
    out->fence = req->fence;
    out->checkpointed_at_ms = now_ms;
    out->expires_in_ms = req->ttl_ms;
    out->bytes = (int64_t)req->doc_len;
    rc = saved_version(db, req->room_id, &out->saved_version);
    if (rc == STORE_OK)
        rc = write_ckpt(db, req, out, now_ms + req->ttl_ms);
    if (rc == STORE_OK)
        rc = purge(db, now_ms);
    rc = finish(db, rc, true);
    out->outcome = rc == STORE_OK ? STORE_LEASE_OK : STORE_LEASE_LOST;
    return rc;
}

static enum store_status sq_ckpt_get(struct store *s, const char *room_id, int64_t now_ms,
                                     struct store_ckpt *out)
{
    sqlite3 *db = store_sqlite_db(s);
    enum store_status rc = STORE_ERROR;
    sqlite3_stmt *st = prep(db,
                            "SELECT fence, checkpointed_at_ms, expires_at_ms, saved_version, doc "
                            "FROM room_checkpoints WHERE room_id = ?1 AND expires_at_ms > ?2",
                            room_id, &rc);
    if (!st)
        return rc;
    int src = sqlite3_bind_int64(st, 2, now_ms);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const void *doc = sqlite3_column_blob(st, 4);
        int n = sqlite3_column_bytes(st, 4);
        out->fence = sqlite3_column_int64(st, 0);
        out->checkpointed_at_ms = sqlite3_column_int64(st, 1);
        out->expires_in_ms = sqlite3_column_int64(st, 2) - now_ms;
        out->saved_version =
            sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
        out->bytes = n;
        out->doc = malloc((size_t)n + 1);
        if (out->doc) {
            if (n > 0)
                memcpy(out->doc, doc, (size_t)n);
            out->doc[n] = '\0';
            out->outcome = STORE_LEASE_OK;
            rc = STORE_OK;
        } else {
            log_error("store: out of memory reading a checkpoint");
            rc = STORE_ERROR;
        }
    } else {
        rc = src == SQLITE_DONE ? STORE_NOT_FOUND : fail(db, src, "reading a checkpoint");
    }
    sqlite3_finalize(st);
    return rc;
}

static enum store_status sq_ckpt_delete(struct store *s, const char *room_id, int64_t fence,
                                        int64_t now_ms, enum store_lease_outcome *out)
{
    sqlite3 *db = store_sqlite_db(s);
    struct store_lease cur;
    (void)now_ms;
    enum store_status rc = begin_read(db, room_id, &cur);
    if (rc)
        return rc;
    if (cur.fence != fence) {
        *out = STORE_LEASE_LOST;
        return finish(db, rc, false);
    }
    sqlite3_stmt *st = prep(db, "DELETE FROM room_checkpoints WHERE room_id = ?1", room_id, &rc);
    if (st)
        rc = run(db, st, SQLITE_OK, "deleting a checkpoint");
    *out = sqlite3_changes(db) > 0 ? STORE_LEASE_OK : STORE_LEASE_NONE;
    return finish(db, rc, true);
}

const struct store_fleet_ops store_fleet_sqlite_ops = {
    .lease_acquire = sq_lease_acquire,
    .lease_release = sq_lease_release,
    .lease_get = sq_lease_get,
    .ckpt_put = sq_ckpt_put,
    .ckpt_get = sq_ckpt_get,
    .ckpt_delete = sq_ckpt_delete,
};
