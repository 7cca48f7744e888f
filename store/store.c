/* store.c — the storage interface: picks a backend in store_open and dispatches every call
 * through its ops table (store.h).  The SQLite backend lives in store_sqlite.c, the
 * PostgreSQL one in store_pg.c. */
#include "store/store.h"

#include "common/log.h"

#include "store/store_group.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <ctype.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum store_backend store_backend_of(const char *db)
{
    if (!db)
        return STORE_BACKEND_SQLITE;
    if (has_prefix(db, "postgres://") || has_prefix(db, "postgresql://"))
        return STORE_BACKEND_POSTGRES;
    /* a libpq key=value string: begins with a keyword (letters, '_') and '=' */
    const char *p = db;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *k = p;
    while (*p && (islower((unsigned char)*p) || *p == '_'))
        p++;
    while (p > k && (*p == ' ' || *p == '\t'))
        p++;
    if (p > k && *p == '=')
        return STORE_BACKEND_POSTGRES;
    return STORE_BACKEND_SQLITE;
}

void store_options_default(struct store_options *o)
{
    memset(o, 0, sizeof *o);
    o->group_commit = true;
    o->lock_wait_ms = STORE_LOCK_WAIT_MS_DEFAULT;
}

enum store_status store_open(const char *path, struct store **out, char *err, size_t errsize)
{
    return store_open_opts(path, NULL, out, err, errsize);
}

enum store_status store_open_opts(const char *path, const struct store_options *opts,
                                  struct store **out, char *err, size_t errsize)
{
    struct store_options def;
    if (!opts) {
        store_options_default(&def);
        opts = &def;
    }
    *out = NULL;
    if (err && errsize)
        err[0] = '\0';
    if (!path || !path[0]) {
        if (err && errsize)
            snprintf(err, errsize, "no database path given");
        return STORE_ERROR;
    }
    if (store_backend_of(path) == STORE_BACKEND_POSTGRES)
        return store_pg_ops.open(path, opts, out, err, errsize);
    if (opts->group_commit)
        return store_group_open(&store_sqlite_ops, path, opts, out, err, errsize);
    return store_sqlite_ops.open(path, opts, out, err, errsize);
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

bool store_ready(struct store *s)
{
    return s && s->ops->ready(s);
}

/* The arguments of a call are checked here, once, for every backend (a bad one is a bug in
 * the caller: logged, STORE_ERROR); a backend checks only what is its own. */
enum store_status store_room_save(struct store *s, const struct store_save_req *req,
                                  struct store_save_result *res)
{
    if (!store_save_req_ok(req)) {
        memset(res, 0, sizeof *res);
        log_bug("store_room_save: invalid request");
        return STORE_ERROR;
    }
    return s->ops->room_save(s, req, res);
}

enum store_status store_room_get(struct store *s, const char *room_id, int64_t version,
                                 struct store_state *out)
{
    if (!room_id || version < 0) {
        memset(out, 0, sizeof *out);
        log_bug("store_room_get: invalid request");
        return STORE_ERROR;
    }
    return s->ops->room_get(s, room_id, version, 0, out);
}

enum store_status store_room_get_current(struct store *s, const char *room_id,
                                         int64_t unless_version, struct store_state *out)
{
    if (!room_id || unless_version < 0) {
        memset(out, 0, sizeof *out);
        log_bug("store_room_get_current: invalid request");
        return STORE_ERROR;
    }
    return s->ops->room_get(s, room_id, 0, unless_version, out);
}

void store_state_clear(struct store_state *st)
{
    if (!st)
        return;
    if (st->doc)
        free(st->doc - STORE_DOC_HEADROOM);
    memset(st, 0, sizeof *st);
}

char *store_state_take_doc(struct store_state *st)
{
    char *alloc = st->doc ? st->doc - STORE_DOC_HEADROOM : NULL;
    st->doc = NULL;
    st->doc_len = 0;
    return alloc;
}

char *store_state_doc_alloc(struct store_state *st, size_t len)
{
    char *alloc = len < SIZE_MAX - STORE_DOC_HEADROOM ? malloc(STORE_DOC_HEADROOM + len + 1) : NULL;
    if (!alloc)
        return NULL;
    st->doc = alloc + STORE_DOC_HEADROOM;
    st->doc[len] = '\0';
    st->doc_len = len;
    return st->doc;
}

enum store_status store_room_version(struct store *s, const char *room_id, int64_t *version)
{
    return s->ops->room_version(s, room_id, version);
}

enum store_status store_room_versions(struct store *s, const char *room_id,
                                      struct store_version_info **out, size_t *n)
{
    return s->ops->room_versions(s, room_id, out, n);
}

enum store_status store_room_delete(struct store *s, const char *room_id, int64_t if_match)
{
    if (!room_id || !room_id[0] || if_match < -1) {
        log_bug("store_room_delete: invalid request");
        return STORE_ERROR;
    }
    return s->ops->room_delete(s, room_id, if_match);
}

enum store_status store_rooms_list(struct store *s, char ***ids, size_t *n)
{
    return s->ops->rooms_list(s, ids, n);
}

void store_rooms_list_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

enum store_status store_room_counter(struct store *s, const char *room_id,
                                     struct store_room_counter *out)
{
    return s->ops->room_counter(s, room_id, out);
}

enum store_status store_room_import(struct store *s, const struct store_room_copy *in)
{
    return s->ops->room_import(s, in);
}

/* A bounded C string field of the fixed-size saved_by struct: must be NUL-terminated. */
static bool field_ok(const char *f, size_t size)
{
    return memchr(f, '\0', size) != NULL;
}

bool store_save_req_ok(const struct store_save_req *req)
{
    if (!req || !req->room_id || !req->room_id[0] || !req->doc || req->history_keep < 1 ||
        req->if_match < -1 || req->objects_saved < 0 || req->doc_len > (size_t)INT32_MAX)
        return false;
    const struct store_saved_by *by = req->saved_by;
    return !by || (field_ok(by->user_id, sizeof by->user_id) &&
                   field_ok(by->username, sizeof by->username) &&
                   field_ok(by->service, sizeof by->service));
}

const char *store_status_name(enum store_status st)
{
    switch (st) {
    case STORE_OK:
        return "ok";
    case STORE_NOT_FOUND:
        return "not_found";
    case STORE_PRECONDITION_FAILED:
        return "precondition_failed";
    case STORE_SCHEMA_NOT_CURRENT:
        return "schema_not_current";
    case STORE_BUSY:
        return "busy";
    case STORE_FULL:
        return "full";
    case STORE_ERROR:
        return "error";
    }
    return "?";
}
