/* store_pg_copy.c — the copy operations of store.h on PostgreSQL (roomstate-migrate copy):
 * list rooms, read a room's counter, write a whole room in one transaction. */
#include "common/log.h"
#include "store/store_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum store_status fail(PGconn *c, PGresult *res, const char *what)
{
    enum store_status st = store_pg_status_of(c, res);
    log_error("store: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(c));
    PQclear(res);
    return st;
}

enum store_status store_pg_rooms_list(struct store *s, char ***ids, size_t *n)
{
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    *ids = NULL;
    *n = 0;
    if (!c)
        return st;
    PGresult *res = PQexec(c, "SELECT room_id FROM rooms ORDER BY room_id");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(c, res, "listing rooms");
    size_t rows = (size_t)PQntuples(res);
    char **v = calloc(rows ? rows : 1, sizeof *v);
    for (size_t i = 0; v && i < rows; i++) {
        if (!(v[i] = strdup(PQgetvalue(res, (int)i, 0)))) {
            store_rooms_list_free(v, i);
            v = NULL;
        }
    }
    PQclear(res);
    if (!v) {
        log_error("store: out of memory listing rooms");
        return STORE_ERROR;
    }
    *ids = v;
    *n = rows;
    return STORE_OK;
}

static enum store_status counter(PGconn *c, const char *room_id, struct store_room_counter *out)
{
    const char *v[] = {room_id};
    memset(out, 0, sizeof *out);
    PGresult *res = PQexecParams(c,
                                 "SELECT last_version, coalesce(current_version, 0), "
                                 "updated_at_ms FROM rooms WHERE room_id = $1",
                                 1, NULL, v, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(c, res, "reading a room counter");
    enum store_status st = STORE_NOT_FOUND;
    if (PQntuples(res) == 1) {
        out->last_version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->current_version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        out->updated_at_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        st = STORE_OK;
    }
    PQclear(res);
    return st;
}

enum store_status store_pg_room_counter(struct store *s, const char *room_id,
                                        struct store_room_counter *out)
{
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    return c ? counter(c, room_id, out) : st;
}

static enum store_status command(PGconn *c, const char *what, const char *sql, int n,
                                 const char *const *vals, const int *lens, const int *fmts)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, vals, lens, fmts, 0);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(c, res, what);
    bool rolled_back = !strcmp(PQcmdStatus(res), "ROLLBACK");
    PQclear(res);
    return rolled_back ? STORE_ERROR : STORE_OK;
}

static enum store_status import_rows(PGconn *c, const struct store_room_copy *in)
{
    char lb[24], cb[24], ub[24];
    const struct store_room_counter *k = &in->counter;
    snprintf(lb, sizeof lb, "%" PRId64, k->last_version);
    snprintf(cb, sizeof cb, "%" PRId64, k->current_version);
    snprintf(ub, sizeof ub, "%" PRId64, k->updated_at_ms);
    const char *rv[] = {in->room_id, lb, cb, ub};
    enum store_status st = command(c, "importing a room",
                                   "INSERT INTO rooms (room_id, last_version, current_version, "
                                   "updated_at_ms) VALUES ($1, $2::bigint, "
                                   "nullif($3::bigint, 0), $4::bigint)",
                                   4, rv, NULL, NULL);
    for (size_t i = 0; st == STORE_OK && i < in->n; i++) {
        const struct store_state *v = &in->versions[i];
        char vb[24], tb[24], ob[24], bb[24];
        snprintf(vb, sizeof vb, "%" PRId64, v->version);
        snprintf(tb, sizeof tb, "%" PRId64, v->saved_at_ms);
        snprintf(ob, sizeof ob, "%" PRId64, v->objects_saved);
        snprintf(bb, sizeof bb, "%zu", v->doc_len);
        if (v->doc_len > (size_t)INT32_MAX || memchr(v->doc, '\0', v->doc_len))
            return STORE_ERROR; /* text cannot hold NUL: not a JSON document */
        const char *vv[] = {
            in->room_id, vb, tb,    v->saved_by.user_id, v->saved_by.username, v->saved_by.service,
            ob,          bb, v->doc};
        const int lens[] = {0, 0, 0, 0, 0, 0, 0, 0, (int)v->doc_len};
        const int fmts[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
        st = command(c, "importing a version",
                     "INSERT INTO room_versions (room_id, version, saved_at_ms, user_id, "
                     "username, service, objects_saved, bytes, doc) VALUES ($1, $2::bigint, "
                     "$3::bigint, $4, $5, $6, $7::bigint, $8::bigint, $9::text)",
                     9, vv, lens, fmts);
    }
    return st;
}

enum store_status store_pg_room_import(struct store *s, const struct store_room_copy *in)
{
    struct store_room_counter have;
    enum store_status st;
    PGconn *c = store_pg_conn(s, &st);
    if (!c)
        return st;
    st = command(c, "BEGIN", "BEGIN", 0, NULL, NULL, NULL);
    if (st)
        return st;
    st = counter(c, in->room_id, &have);
    if (st == STORE_OK)
        st = STORE_PRECONDITION_FAILED; /* the room is there already */
    else if (st == STORE_NOT_FOUND)
        st = import_rows(c, in);
    if (st == STORE_OK)
        st = command(c, "COMMIT", "COMMIT", 0, NULL, NULL, NULL);
    if (st && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
    return st;
}
