/* store_sqlite_copy.c — the copy operations of store.h on SQLite (roomstate-migrate copy):
 * list rooms, read a room's counter, write a whole room in one transaction. */
#include "common/grow.h"
#include "common/log.h"
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum store_status fail(sqlite3 *db, int src, const char *what)
{
    log_error("store: %s: %s", what, sqlite3_errmsg(db));
    return (src == SQLITE_BUSY || src == SQLITE_LOCKED) ? STORE_BUSY : STORE_ERROR;
}

enum store_status store_sqlite_rooms_list(struct store *s, char ***ids, size_t *n)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    size_t count = 0, cap = 0;
    enum store_status rc = STORE_ERROR;
    int src;
    *ids = NULL;
    *n = 0;
    if ((src = sqlite3_prepare_v2(db, "SELECT room_id FROM rooms ORDER BY room_id", -1, &st,
                                  NULL)) != SQLITE_OK) {
        rc = fail(db, src, "listing rooms");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow_array(&v, &cap, count + 1, sizeof *v, 64, STORE_ROOMS_LIST_MAX) != 0) {
            log_error("store: listing rooms: out of memory or more than %d", STORE_ROOMS_LIST_MAX);
            goto out;
        }
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!(v[count] = strdup(id ? id : "")))
            goto out;
        count++;
    }
    if (src != SQLITE_DONE) {
        rc = fail(db, src, "listing rooms");
        goto out;
    }
    *ids = v;
    *n = count;
    v = NULL;
    rc = STORE_OK;
out:
    sqlite3_finalize(st);
    store_rooms_list_free(v, count);
    return rc;
}

enum store_status store_sqlite_room_counter(struct store *s, const char *room_id,
                                            struct store_room_counter *out)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    enum store_status rc = STORE_ERROR;
    int src;
    memset(out, 0, sizeof *out);
    if ((src = sqlite3_prepare_v2(db,
                                  "SELECT last_version, coalesce(current_version, 0), "
                                  "updated_at_ms FROM rooms WHERE room_id = ?1",
                                  -1, &st, NULL)) != SQLITE_OK ||
        (src = sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC)) != SQLITE_OK) {
        rc = fail(db, src, "reading a room counter");
        goto out;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->last_version = sqlite3_column_int64(st, 0);
        out->current_version = sqlite3_column_int64(st, 1);
        out->updated_at_ms = sqlite3_column_int64(st, 2);
        rc = STORE_OK;
    } else if (src == SQLITE_DONE) {
        rc = STORE_NOT_FOUND;
    } else {
        rc = fail(db, src, "reading a room counter");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static enum store_status run(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    return src == SQLITE_DONE ? STORE_OK : fail(db, src, what);
}

static enum store_status import_rows(sqlite3 *db, const struct store_room_copy *in)
{
    sqlite3_stmt *room = NULL, *ver = NULL;
    enum store_status rc = STORE_ERROR;
    const struct store_room_counter *c = &in->counter;
    int src;
    if ((src = sqlite3_prepare_v2(db,
                                  "INSERT INTO rooms (room_id, last_version, current_version, "
                                  "updated_at_ms) VALUES (?1, ?2, nullif(?3, 0), ?4)",
                                  -1, &room, NULL)) != SQLITE_OK ||
        (src = sqlite3_prepare_v2(db,
                                  "INSERT INTO room_versions (room_id, version, saved_at_ms, "
                                  "user_id, username, service, objects_saved, bytes, doc) VALUES "
                                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                  -1, &ver, NULL)) != SQLITE_OK) {
        rc = fail(db, src, "preparing the import");
        goto out;
    }
    if (sqlite3_bind_text(room, 1, in->room_id, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(room, 2, c->last_version) ||
        sqlite3_bind_int64(room, 3, c->current_version) ||
        sqlite3_bind_int64(room, 4, c->updated_at_ms))
        goto out;
    if ((rc = run(db, room, "importing a room")))
        goto out;
    for (size_t i = 0; i < in->n; i++) {
        const struct store_state *v = &in->versions[i];
        rc = STORE_ERROR;
        if (v->doc_len > (size_t)INT32_MAX ||
            sqlite3_bind_text(ver, 1, in->room_id, -1, SQLITE_STATIC) ||
            sqlite3_bind_int64(ver, 2, v->version) || sqlite3_bind_int64(ver, 3, v->saved_at_ms) ||
            sqlite3_bind_text(ver, 4, v->saved_by.user_id, -1, SQLITE_STATIC) ||
            sqlite3_bind_text(ver, 5, v->saved_by.username, -1, SQLITE_STATIC) ||
            sqlite3_bind_text(ver, 6, v->saved_by.service, -1, SQLITE_STATIC) ||
            sqlite3_bind_int64(ver, 7, v->objects_saved) ||
            sqlite3_bind_int64(ver, 8, (sqlite3_int64)v->doc_len) ||
            sqlite3_bind_blob(ver, 9, v->doc, (int)v->doc_len, SQLITE_STATIC))
            goto out;
        if ((rc = run(db, ver, "importing a version")))
            goto out;
    }
    rc = STORE_OK;
out:
    sqlite3_finalize(room);
    sqlite3_finalize(ver);
    return rc;
}

enum store_status store_sqlite_room_import(struct store *s, const struct store_room_copy *in)
{
    sqlite3 *db = store_sqlite_db(s);
    struct store_room_counter have;
    enum store_status rc;
    int src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return fail(db, src, "BEGIN IMMEDIATE");
    rc = store_sqlite_room_counter(s, in->room_id, &have);
    if (rc == STORE_OK)
        rc = STORE_PRECONDITION_FAILED; /* the room is there already */
    else if (rc == STORE_NOT_FOUND)
        rc = import_rows(db, in);
    if (rc == STORE_OK && (src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        rc = fail(db, src, "COMMIT");
    if (rc && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
