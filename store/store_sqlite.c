/* store_sqlite.c — the SQLite backend of store.h: one connection per struct store (one per
 * thread), statements prepared once per connection on first use, writes in BEGIN IMMEDIATE
 * transactions with a bounded retry when the database stays busy.
 *
 * Tables (schema/sqlite/0001_rooms.sql): rooms(room_id, last_version, current_version) keeps the
 * version counter, which survives a DELETE; room_versions holds every retained document.
 * With group commit (the default) store.c wraps this backend in store_group.c, whose writer
 * thread runs the saves through store_sqlite_save_batch (the save_batch op); this file does
 * not know about it. */
#include "store/store_sqlite.h"

#include "common/clock.h"
#include "common/grow.h"
#include "common/log.h"
#include "store/dbfile.h"
#include "store/fleet.h"
#include "store/migrations.h"
#include "store/wal_ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_ROOM_COUNTER,
    ST_ROOM_UPSERT,
    ST_VERSION_INSERT,
    ST_VERSION_PRUNE,
    ST_GET_CURRENT,
    ST_GET_VERSION,
    ST_CURRENT_VERSION,
    ST_VERSIONS,
    ST_DELETE_VERSIONS,
    ST_ROOM_CLEAR,
    ST_COUNT
};

struct sqlite_store {
    struct store base; /* first: a struct store * points here */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[ST_COUNT];
    int lock_wait_ms;      /* store_options.lock_wait_ms */
    struct wal_ckpt *ckpt; /* store_options.background_checkpoint; NULL: SQLite's own */
};

static struct sqlite_store *impl(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* The statement id, prepared on first use from sql (which sits in the calling function). */
static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt_id id, const char *sql)
{
    if (!s->stmts[id] && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->stmts[id], NULL) != SQLITE_OK) {
        log_error("store: preparing statement %d: %s", (int)id, sqlite3_errmsg(s->db));
        s->stmts[id] = NULL;
    }
    return s->stmts[id];
}

static void done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static enum store_status from_sqlite(struct sqlite_store *s, int src, const char *what)
{
    if (src == SQLITE_BUSY || src == SQLITE_LOCKED) {
        log_warn("store: %s: database busy", what);
        return STORE_BUSY;
    }
    if (src == SQLITE_FULL) { /* the transaction is rolled back: nothing of it stored */
        log_error("store: %s: the disk holding the database is full", what);
        return STORE_FULL;
    }
    log_error("store: %s: %s (%d)", what, sqlite3_errmsg(s->db), src);
    return STORE_ERROR;
}

/* Runs a statement that returns no row. */
static int step_done(sqlite3_stmt *st)
{
    int src = sqlite3_step(st);
    return src == SQLITE_DONE ? SQLITE_OK : src;
}

/* The deadline of a write: the request's, or lock_wait_ms from now. */
static int64_t write_deadline(const struct sqlite_store *s, int64_t deadline_ns)
{
    return deadline_ns > 0 ? deadline_ns : clock_mono_ns() + (int64_t)s->lock_wait_ms * 1000000;
}

/* Takes the write lock, waiting for another holder until deadline_ns (clock_mono_ns) at most:
 * SQLite's busy handler sleeps up to the time left; a BUSY it answers early is retried after
 * a millisecond while time is left.  Then STORE_BUSY. */
static enum store_status begin_immediate(struct sqlite_store *s, int64_t deadline_ns)
{
    sqlite3_stmt *st = stmt(s, ST_BEGIN, "BEGIN IMMEDIATE");
    int src = SQLITE_ERROR;
    if (!st)
        return STORE_ERROR;
    for (;;) {
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        if (left_ms < 0)
            left_ms = 0;
        sqlite3_busy_timeout(s->db, (int)(left_ms > INT32_MAX ? INT32_MAX : left_ms));
        src = step_done(st);
        done(st);
        if (src != SQLITE_BUSY || left_ms == 0)
            break;
        usleep(1000);
    }
    sqlite3_busy_timeout(s->db, s->lock_wait_ms);
    if (src == SQLITE_BUSY)
        log_warn("store: the database stayed locked by another connection: write refused");
    return src == SQLITE_OK ? STORE_OK : from_sqlite(s, src, "BEGIN IMMEDIATE");
}

static enum store_status commit(struct sqlite_store *s)
{
    sqlite3_stmt *st = stmt(s, ST_COMMIT, "COMMIT");
    int src = st ? step_done(st) : SQLITE_ERROR;
    done(st);
    return src == SQLITE_OK ? STORE_OK : from_sqlite(s, src, "COMMIT");
}

static void rollback(struct sqlite_store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return; /* SQLite already rolled back (or nothing was begun) */
    sqlite3_stmt *st = stmt(s, ST_ROLLBACK, "ROLLBACK");
    int src = st ? step_done(st) : SQLITE_ERROR;
    done(st);
    if (src != SQLITE_OK)
        log_error("store: ROLLBACK: %s", sqlite3_errmsg(s->db));
}

static bool bind_ok(struct sqlite_store *s, int src)
{
    if (src != SQLITE_OK)
        log_error("store: bind: %s", sqlite3_errmsg(s->db));
    return src == SQLITE_OK;
}

static bool bind_text(struct sqlite_store *s, sqlite3_stmt *st, int i, const char *v)
{
    return bind_ok(s, sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC));
}

static bool bind_i64(struct sqlite_store *s, sqlite3_stmt *st, int i, int64_t v)
{
    return bind_ok(s, sqlite3_bind_int64(st, i, (sqlite3_int64)v));
}

static void col_str(sqlite3_stmt *st, int col, char *dst, size_t dstsize)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, dstsize, "%s", v ? (const char *)v : "");
}

/* ---- writes ---------------------------------------------------------------------------- */

/* The room's counter row: *exists, *last (0 when none) and *current (0 when no state). */
static enum store_status read_counter(struct sqlite_store *s, const char *room_id, bool *exists,
                                      int64_t *last, int64_t *current)
{
    sqlite3_stmt *st = stmt(s, ST_ROOM_COUNTER,
                            "SELECT last_version, coalesce(current_version, 0) FROM rooms "
                            "WHERE room_id = ?1");
    enum store_status rc = STORE_ERROR;
    int src;
    *exists = false;
    *last = *current = 0;
    if (!st || !bind_text(s, st, 1, room_id))
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *exists = true;
        *last = sqlite3_column_int64(st, 0);
        *current = sqlite3_column_int64(st, 1);
    } else if (src != SQLITE_DONE) {
        rc = from_sqlite(s, src, "reading the room counter");
        goto out;
    }
    rc = STORE_OK;
out:
    done(st);
    return rc;
}

/* The body of a save, inside an open write transaction (which the caller commits or rolls
 * back).  Group commit runs several of these in one transaction (each in a SAVEPOINT when a
 * batch runs again after an SQL error). */
static enum store_status save_in_txn(struct sqlite_store *s, const struct store_save_req *req,
                                     struct store_save_result *res)
{
    static const struct store_saved_by nobody;
    const struct store_saved_by *by = req->saved_by ? req->saved_by : &nobody;
    sqlite3_stmt *up = NULL, *ins = NULL, *prune = NULL;
    bool exists;
    int64_t last, current, version;
    int src;
    enum store_status rc = read_counter(s, req->room_id, &exists, &last, &current);
    if (rc)
        goto out;
    if (req->if_match >= 0 && (current == 0 || current != req->if_match)) {
        rc = STORE_PRECONDITION_FAILED;
        goto out;
    }
    version = last + 1;
    rc = STORE_ERROR;
    up = stmt(s, ST_ROOM_UPSERT,
              "INSERT INTO rooms (room_id, last_version, current_version, updated_at_ms) "
              "VALUES (?1, ?2, ?2, ?3) ON CONFLICT (room_id) DO UPDATE SET "
              "last_version = excluded.last_version, current_version = excluded.current_version, "
              "updated_at_ms = excluded.updated_at_ms");
    if (!up || !bind_text(s, up, 1, req->room_id) || !bind_i64(s, up, 2, version) ||
        !bind_i64(s, up, 3, req->saved_at_ms))
        goto out;
    if ((src = step_done(up)) != SQLITE_OK) {
        rc = from_sqlite(s, src, "updating the room counter");
        goto out;
    }
    ins = stmt(s, ST_VERSION_INSERT,
               "INSERT INTO room_versions (room_id, version, saved_at_ms, user_id, username, "
               "service, objects_saved, bytes, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!ins || !bind_text(s, ins, 1, req->room_id) || !bind_i64(s, ins, 2, version) ||
        !bind_i64(s, ins, 3, req->saved_at_ms) || !bind_text(s, ins, 4, by->user_id) ||
        !bind_text(s, ins, 5, by->username) || !bind_text(s, ins, 6, by->service) ||
        !bind_i64(s, ins, 7, req->objects_saved) || !bind_i64(s, ins, 8, (int64_t)req->doc_len) ||
        !bind_ok(s, sqlite3_bind_blob(ins, 9, req->doc, (int)req->doc_len, SQLITE_STATIC)))
        goto out;
    if ((src = step_done(ins)) != SQLITE_OK) {
        rc = from_sqlite(s, src, "inserting the version");
        goto out;
    }
    /* versions of a room's history are contiguous (a DELETE removes all of them) */
    prune =
        stmt(s, ST_VERSION_PRUNE, "DELETE FROM room_versions WHERE room_id = ?1 AND version <= ?2");
    if (!prune || !bind_text(s, prune, 1, req->room_id) ||
        !bind_i64(s, prune, 2, version - req->history_keep))
        goto out;
    if ((src = step_done(prune)) != SQLITE_OK) {
        rc = from_sqlite(s, src, "pruning the history");
        goto out;
    }
    res->version = version;
    res->created = !exists;
    rc = STORE_OK;
out:
    done(up);
    done(ins);
    done(prune);
    return rc;
}

/* One statement of the savepoint protocol; false (logged) when it fails. */
static bool exec_stmt(struct sqlite_store *s, enum stmt_id id, const char *sql)
{
    sqlite3_stmt *st = stmt(s, id, sql);
    int src = st ? step_done(st) : SQLITE_ERROR;
    done(st);
    if (src != SQLITE_OK)
        log_error("store: %s: %s", sql, sqlite3_errmsg(s->db));
    return src == SQLITE_OK;
}

/* The earliest deadline of the n saves (each 0: lock_wait_ms from now). */
static int64_t batch_deadline(const struct sqlite_store *s,
                              const struct store_save_req *const reqs[], size_t n)
{
    int64_t d = write_deadline(s, 0);
    for (size_t i = 0; i < n; i++)
        if (reqs[i] && reqs[i]->deadline_ns > 0 && reqs[i]->deadline_ns < d)
            d = reqs[i]->deadline_ns;
    return d;
}

/* Clears *res; false, with *st STORE_ERROR (logged when told), when req is no valid save. */
static bool batch_req_ok(const struct store_save_req *req, struct store_save_result *res,
                         enum store_status *st, bool log)
{
    memset(res, 0, sizeof *res);
    if (store_save_req_ok(req))
        return true;
    if (log)
        log_bug("store_room_save: invalid request");
    *st = STORE_ERROR;
    return false;
}

/* The saves [from, to) that had succeeded in a transaction that is gone now fail with rc. */
static void fail_stored(enum store_status st[], struct store_save_result *const res[], size_t from,
                        size_t to, enum store_status rc)
{
    for (size_t j = from; j < to; j++) {
        if (st[j] == STORE_OK) {
            st[j] = rc;
            memset(res[j], 0, sizeof *res[j]);
        }
    }
}

/* The transaction for the saves [from, n) could not be begun: each valid one fails with rc. */
static void fail_unbegun(const struct store_save_req *const reqs[],
                         struct store_save_result *const res[], enum store_status st[], size_t from,
                         size_t n, enum store_status rc)
{
    for (size_t j = from; j < n; j++) {
        memset(res[j], 0, sizeof *res[j]);
        st[j] = store_save_req_ok(reqs[j]) ? rc : STORE_ERROR;
    }
}

/* The batch with no savepoint: true when it is done (committed, or the transaction could not
 * be begun or committed: every save reports it), false when a save failed otherwise than by
 * its If-Match (which writes nothing), after which all of it is rolled back and nothing is
 * reported: the caller runs the batch again with savepoints. */
static bool save_batch_plain(struct sqlite_store *s, const struct store_save_req *const reqs[],
                             struct store_save_result *const res[], enum store_status st[],
                             size_t n)
{
    enum store_status rc = begin_immediate(s, batch_deadline(s, reqs, n));
    if (rc) {
        fail_unbegun(reqs, res, st, 0, n, rc);
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!batch_req_ok(reqs[i], res[i], &st[i], true))
            continue;
        st[i] = save_in_txn(s, reqs[i], res[i]);
        if (st[i] == STORE_PRECONDITION_FAILED)
            memset(res[i], 0, sizeof *res[i]);
        else if (st[i] != STORE_OK) {
            rollback(s);
            return false;
        }
    }
    rc = commit(s);
    if (rc != STORE_OK) {
        rollback(s);
        fail_stored(st, res, 0, n, rc);
    }
    return true;
}

/* The batch with a SAVEPOINT per save, so that a failing save fails alone. */
static void save_batch(struct sqlite_store *s, const struct store_save_req *const reqs[],
                       struct store_save_result *const res[], enum store_status st[], size_t n)
{
    size_t first = 0; /* the first save of the open transaction */
    enum store_status rc = STORE_OK;
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (!batch_req_ok(reqs[i], res[i], &st[i], false)) /* (logged by the first run) */
            continue;
        if (!open) {
            rc = begin_immediate(s, batch_deadline(s, reqs + i, n - i));
            if (rc) {
                fail_unbegun(reqs, res, st, i, n, rc);
                return;
            }
            open = true;
            first = i;
        }
        if (!exec_stmt(s, ST_SAVEPOINT, "SAVEPOINT save")) {
            st[i] = STORE_ERROR;
            continue;
        }
        st[i] = save_in_txn(s, reqs[i], res[i]);
        if (st[i] == STORE_OK) {
            if (exec_stmt(s, ST_RELEASE, "RELEASE save"))
                continue;
            st[i] = STORE_ERROR;
        }
        memset(res[i], 0, sizeof *res[i]);
        if (!sqlite3_get_autocommit(s->db) && exec_stmt(s, ST_ROLLBACK_TO, "ROLLBACK TO save") &&
            exec_stmt(s, ST_RELEASE, "RELEASE save"))
            continue;
        /* the transaction is gone (SQLite rolled it back): so are the saves before in it */
        log_error("store: batch transaction lost at save %zu of %zu", i + 1, n);
        rollback(s);
        fail_stored(st, res, first, i, STORE_ERROR);
        open = false;
    }
    if (!open)
        return;
    rc = commit(s);
    if (rc == STORE_OK)
        return;
    rollback(s);
    fail_stored(st, res, first, n, rc);
}

void store_sqlite_save_batch(struct store *base, const struct store_save_req *const reqs[],
                             struct store_save_result *const res[], enum store_status st[],
                             size_t n)
{
    struct sqlite_store *s = impl(base);
    if (!save_batch_plain(s, reqs, res, st, n))
        save_batch(s, reqs, res, st, n);
    wal_ckpt_after_commit(s->ckpt); /* no transaction open: it may copy the WAL's rest */
}

static enum store_status sq_room_save(struct store *base, const struct store_save_req *req,
                                      struct store_save_result *res)
{
    struct sqlite_store *s = impl(base);
    enum store_status rc;
    memset(res, 0, sizeof *res);
    rc = begin_immediate(s, write_deadline(s, req->deadline_ns));
    if (rc)
        return rc;
    rc = save_in_txn(s, req, res);
    if (rc == STORE_OK)
        rc = commit(s);
    if (rc) {
        rollback(s);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

static enum store_status sq_room_delete(struct store *base, const char *room_id, int64_t if_match)
{
    struct sqlite_store *s = impl(base);
    sqlite3_stmt *del = NULL, *clear = NULL;
    bool exists;
    int64_t last, current;
    int src;
    enum store_status rc;
    rc = begin_immediate(s, write_deadline(s, 0));
    if (rc)
        return rc;
    rc = read_counter(s, room_id, &exists, &last, &current);
    if (rc)
        goto out;
    if (current == 0) {
        rc = STORE_NOT_FOUND;
        goto out;
    }
    if (if_match >= 0 && if_match != current) {
        rc = STORE_PRECONDITION_FAILED;
        goto out;
    }
    rc = STORE_ERROR;
    del = stmt(s, ST_DELETE_VERSIONS, "DELETE FROM room_versions WHERE room_id = ?1");
    if (!del || !bind_text(s, del, 1, room_id))
        goto out;
    if ((src = step_done(del)) != SQLITE_OK) {
        rc = from_sqlite(s, src, "deleting the history");
        goto out;
    }
    clear = stmt(s, ST_ROOM_CLEAR, "UPDATE rooms SET current_version = NULL WHERE room_id = ?1");
    if (!clear || !bind_text(s, clear, 1, room_id))
        goto out;
    if ((src = step_done(clear)) != SQLITE_OK) {
        rc = from_sqlite(s, src, "clearing the room");
        goto out;
    }
    rc = commit(s);
out:
    done(del);
    done(clear);
    if (rc)
        rollback(s);
    return rc;
}

/* ---- reads (each one statement: one consistent snapshot) ------------------------------- */

static enum store_status sq_room_get(struct store *base, const char *room_id, int64_t version,
                                     int64_t unless_version, struct store_state *out)
{
    struct sqlite_store *s = impl(base);
    sqlite3_stmt *st;
    enum store_status rc = STORE_ERROR;
    int src;
    memset(out, 0, sizeof *out);
    if (version == 0)
        st = stmt(s, ST_GET_CURRENT,
                  "SELECT v.version, v.saved_at_ms, v.user_id, v.username, v.service, "
                  "v.objects_saved, CASE WHEN v.version = ?2 THEN NULL ELSE v.doc END "
                  "FROM rooms r JOIN room_versions v "
                  "ON v.room_id = r.room_id AND v.version = r.current_version "
                  "WHERE r.room_id = ?1");
    else
        st = stmt(s, ST_GET_VERSION,
                  "SELECT version, saved_at_ms, user_id, username, service, objects_saved, doc "
                  "FROM room_versions WHERE room_id = ?1 AND version = ?2");
    if (!st || !bind_text(s, st, 1, room_id) ||
        !bind_i64(s, st, 2, version ? version : unless_version))
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = STORE_NOT_FOUND;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = from_sqlite(s, src, "reading the state");
        goto out;
    }
    out->version = sqlite3_column_int64(st, 0);
    out->saved_at_ms = sqlite3_column_int64(st, 1);
    col_str(st, 2, out->saved_by.user_id, sizeof out->saved_by.user_id);
    col_str(st, 3, out->saved_by.username, sizeof out->saved_by.username);
    col_str(st, 4, out->saved_by.service, sizeof out->saved_by.service);
    out->objects_saved = sqlite3_column_int64(st, 5);
    if (!version && unless_version && out->version == unless_version) {
        rc = STORE_OK; /* the caller has this document */
        goto out;
    }
    const void *blob = sqlite3_column_blob(st, 6);
    int len = sqlite3_column_bytes(st, 6);
    if (len < 0 || !store_state_doc_alloc(out, (size_t)len)) {
        log_error("store: out of memory reading %d bytes", len);
        goto out;
    }
    if (len > 0)
        memcpy(out->doc, blob, (size_t)len);
    rc = STORE_OK;
out:
    done(st);
    if (rc)
        store_state_clear(out);
    return rc;
}

static enum store_status sq_room_version(struct store *base, const char *room_id, int64_t *version)
{
    struct sqlite_store *s = impl(base);
    sqlite3_stmt *st = stmt(s, ST_CURRENT_VERSION,
                            "SELECT current_version FROM rooms WHERE room_id = ?1 AND "
                            "current_version IS NOT NULL");
    enum store_status rc = STORE_ERROR;
    int src;
    *version = 0;
    if (!st || !room_id || !bind_text(s, st, 1, room_id))
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        rc = STORE_OK;
    } else if (src == SQLITE_DONE) {
        rc = STORE_NOT_FOUND;
    } else {
        rc = from_sqlite(s, src, "reading the version");
    }
out:
    done(st);
    return rc;
}

static enum store_status sq_room_versions(struct store *base, const char *room_id,
                                          struct store_version_info **out, size_t *n)
{
    struct sqlite_store *s = impl(base);
    sqlite3_stmt *st = stmt(s, ST_VERSIONS,
                            "SELECT version, saved_at_ms, user_id, username, service, "
                            "objects_saved, bytes FROM room_versions WHERE room_id = ?1 "
                            "ORDER BY version DESC");
    struct store_version_info *v = NULL;
    size_t count = 0, cap = 0;
    enum store_status rc = STORE_ERROR;
    int src;
    *out = NULL;
    *n = 0;
    if (!st || !room_id || !bind_text(s, st, 1, room_id))
        goto out;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow_array(&v, &cap, count + 1, sizeof *v, 16, STORE_VERSIONS_MAX) != 0) {
            log_error("store: listing versions: out of memory or more than %d", STORE_VERSIONS_MAX);
            goto out;
        }
        struct store_version_info *e = &v[count++];
        memset(e, 0, sizeof *e);
        e->version = sqlite3_column_int64(st, 0);
        e->saved_at_ms = sqlite3_column_int64(st, 1);
        col_str(st, 2, e->saved_by.user_id, sizeof e->saved_by.user_id);
        col_str(st, 3, e->saved_by.username, sizeof e->saved_by.username);
        col_str(st, 4, e->saved_by.service, sizeof e->saved_by.service);
        e->objects_saved = sqlite3_column_int64(st, 5);
        e->bytes = sqlite3_column_int64(st, 6);
    }
    if (src != SQLITE_DONE) {
        rc = from_sqlite(s, src, "listing versions");
        goto out;
    }
    if (count == 0) {
        rc = STORE_NOT_FOUND;
        goto out;
    }
    *out = v;
    *n = count;
    v = NULL;
    rc = STORE_OK;
out:
    done(st);
    free(v);
    return rc;
}

/* ---- connections ----------------------------------------------------------------------- */

static enum store_status pragma(sqlite3 *db, const char *sql, const char *expect, char *err,
                                size_t errsize)
{
    sqlite3_stmt *st = NULL;
    enum store_status rc = STORE_ERROR;
    int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        goto out;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        if (expect && (!v || strcmp((const char *)v, expect) != 0)) {
            snprintf(err, errsize, "%s answered '%s', expected '%s'", sql, v ? (const char *)v : "",
                     expect);
            goto out;
        }
    }
    if (src != SQLITE_DONE)
        goto out;
    rc = STORE_OK;
out:
    if (rc && src != SQLITE_ROW)
        snprintf(err, errsize, "%s: %s", sql, sqlite3_errmsg(db));
    if (rc && (src == SQLITE_BUSY || src == SQLITE_LOCKED))
        rc = STORE_BUSY;
    sqlite3_finalize(st);
    return rc;
}

enum store_status store_sqlite_connect(const char *path, bool create, sqlite3 **out, char *err,
                                       size_t errsize)
{
    sqlite3 *db = NULL;
    struct stat sb;
    char why[256];
    enum store_status rc = STORE_ERROR;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    *out = NULL;
    if (!create && stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            snprintf(err, errsize,
                     "database %s does not exist: create it with `roomstate-migrate --db %s up`",
                     path, path);
            return STORE_SCHEMA_NOT_CURRENT;
        }
        snprintf(err, errsize, "database %s: %s", path, strerror(errno));
        return STORE_ERROR;
    }
    /* SQLite opens a file it may not write read-only without a word (then every write fails,
     * or on a read-only file system the open fails with a misleading message) */
    if ((!create || access(path, F_OK) == 0) && dbfile_check_writable(path, err, errsize) != 0)
        return STORE_ERROR;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_extended_result_codes(db, 0);
    if (sqlite3_busy_timeout(db, STORE_SQLITE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        snprintf(err, errsize, "busy_timeout: %s", sqlite3_errmsg(db));
        goto out;
    }
    /* A new file gets STORE_SQLITE_PAGE_SIZE pages (an existing one keeps its own: the pragma
     * changes nothing once the file has a page, docs/storage.md). */
    if (create &&
        (rc = pragma(db, "PRAGMA page_size = " STORE_SQLITE_PAGE_SIZE, NULL, why, sizeof why))) {
        snprintf(err, errsize, "database %s: %s", path, why);
        goto out;
    }
    /* secure_delete (Debian's SQLite has it on): FAST zeroes deleted cells in b-tree pages
     * but not freed overflow pages, so pruning a version no longer writes its ~100 KB of
     * zeros to the WAL and again at checkpoint (docs/storage.md, "Deleted data") */
    /* temp_store MEMORY: a group-commit batch run again after an SQL error has each save in
     * a SAVEPOINT, whose statement journal keeps the content that the pages it changes had in the
     * transaction (b-tree pages, the free list, pages freed and reused by the saves before it). On
     * file, SQLite spills it past 64 KiB to a temporary file: 80-150 KB more written per save in a
     * batch (docs/storage.md). In memory it is one save's pages at most. */
    if ((rc = pragma(db, "PRAGMA journal_mode = WAL", "wal", why, sizeof why)) ||
        (rc = pragma(db, "PRAGMA secure_delete = FAST", NULL, why, sizeof why)) ||
        (rc = pragma(db, "PRAGMA temp_store = MEMORY", NULL, why, sizeof why)) ||
        (rc = pragma(db, "PRAGMA synchronous = FULL", NULL, why, sizeof why)) ||
        (rc = pragma(db, "PRAGMA foreign_keys = ON", NULL, why, sizeof why))) {
        snprintf(err, errsize, "database %s: %s", path, why);
        goto out;
    }
    *out = db;
    db = NULL;
    rc = STORE_OK;
out:
    sqlite3_close(db);
    return rc;
}

static void sq_close(struct store *base)
{
    struct sqlite_store *s = impl(base);
    wal_ckpt_stop(s->ckpt);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    if (sqlite3_close(s->db) != SQLITE_OK)
        log_bug("store: closing %s: %s", s->path, sqlite3_errmsg(s->db));
    free(s->path);
    free(s);
}

static enum store_status schema_current(sqlite3 *db, const char *path, char *err, size_t errsize)
{
    char why[512];
    enum migrations_result mr = migrations_check_current(db, why, sizeof why);
    switch (mr) {
    case MIGRATIONS_OK:
        return STORE_OK;
    case MIGRATIONS_PENDING:
        snprintf(err, errsize,
                 "database schema is not current (%s): run `roomstate-migrate --db "
                 "%s up`",
                 why, path);
        return STORE_SCHEMA_NOT_CURRENT;
    case MIGRATIONS_MODIFIED:
    case MIGRATIONS_UNKNOWN:
        snprintf(err, errsize,
                 "database schema does not match this binary (%s): see "
                 "`roomstate-migrate --db %s verify`",
                 why, path);
        return STORE_SCHEMA_NOT_CURRENT;
    case MIGRATIONS_BUSY:
        snprintf(err, errsize, "checking the schema: %s", why);
        return STORE_BUSY;
    default:
        snprintf(err, errsize, "checking the schema: %s", why);
        return STORE_ERROR;
    }
}

enum store_status store_sqlite_open(const char *path, const struct store_options *opts,
                                    struct store **out, char *err, size_t errsize)
{
    char dummy[1];
    struct sqlite_store *s = NULL;
    enum store_status rc = STORE_ERROR;
    if (!err || errsize == 0) {
        err = dummy;
        errsize = sizeof dummy;
    }
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    s->base.ops = &store_sqlite_ops;
    s->lock_wait_ms = !opts                     ? STORE_LOCK_WAIT_MS_DEFAULT
                      : opts->lock_wait_ms >= 0 ? opts->lock_wait_ms
                                                : 0;
    rc = store_sqlite_connect(path, false, &s->db, err, errsize);
    if (rc)
        goto out;
    sqlite3_busy_timeout(s->db, s->lock_wait_ms);
    /* Documents are ~100 KB: read through the pager they cost one pread per page (~25 per
     * GET); mapped, SQLite copies them out of the page cache without a system call. Address
     * space only: the pages stay the kernel's page cache (shared, reclaimable). */
    rc = pragma(s->db, "PRAGMA mmap_size = " STORE_SQLITE_MMAP_BYTES, NULL, err, errsize);
    if (rc)
        goto out;
    rc = schema_current(s->db, path, err, errsize);
    if (rc)
        goto out;
    if (opts && opts->background_checkpoint &&
        (rc = wal_ckpt_start(s->db, path, &s->ckpt, err, errsize)))
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s) {
        sqlite3_close(s->db);
        free(s->path);
        free(s);
    }
    return rc;
}

static enum store_status sq_open(const char *path, const struct store_options *opts,
                                 struct store **out, char *err, size_t errsize)
{
    /* group commit is a layer above (store_group.c, chosen by store.c); opts only gives the
     * lock wait here */
    return store_sqlite_open(path, opts, out, err, errsize);
}

static bool sq_ready(struct store *base)
{
    struct sqlite_store *s = impl(base);
    char err[512];
    return schema_current(s->db, s->path, err, sizeof err) == STORE_OK;
}

bool store_sqlite_checkpoint_stats(struct store *base, struct wal_ckpt_stats *out)
{
    struct sqlite_store *s = impl(base);
    if (!s->ckpt)
        return false;
    *out = wal_ckpt_stats(s->ckpt);
    return true;
}

sqlite3 *store_sqlite_db(struct store *base)
{
    return impl(base)->db;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .ready = sq_ready,
    .room_save = sq_room_save,
    .room_get = sq_room_get,
    .room_version = sq_room_version,
    .room_versions = sq_room_versions,
    .room_delete = sq_room_delete,
    .rooms_list = store_sqlite_rooms_list,
    .room_counter = store_sqlite_room_counter,
    .room_import = store_sqlite_room_import,
    .save_batch = store_sqlite_save_batch,
    .fleet = &store_fleet_sqlite_ops,
};
