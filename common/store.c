/* store.c — the storage interface: picks a backend in store_open and dispatches every call
 * through its ops table (store.h).  The SQLite backend lives in store_sqlite.c. */
#include "common/store.h"

#include "common/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
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
    if (has_prefix(path, "postgres://") || has_prefix(path, "postgresql://")) {
        if (err && errsize)
            snprintf(err, errsize, "the PostgreSQL backend is not built into this binary");
        return STORE_ERROR;
    }
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

enum store_status store_room_save(struct store *s, const struct store_save_req *req,
                                  struct store_save_result *res)
{
    return s->ops->room_save(s, req, res);
}

enum store_status store_room_get(struct store *s, const char *room_id, int64_t version,
                                 struct store_state *out)
{
    return s->ops->room_get(s, room_id, version, out);
}

void store_state_clear(struct store_state *st)
{
    if (!st)
        return;
    free(st->doc);
    memset(st, 0, sizeof *st);
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
    return s->ops->room_delete(s, room_id, if_match);
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
