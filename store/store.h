/* store.h — room-state storage behind a small interface.  SQLite is the embedded backend
 * (store_sqlite.c); a PostgreSQL backend can be added as another `struct store_ops`.
 * Nothing here knows HTTP: functions return enum store_status and the caller maps it.
 *
 * Threads: one `struct store` (one connection) per thread; a store is not shared.
 * Durability: a save that returns STORE_OK is committed with synchronous=FULL (it
 * survives kill -9 right after). */
#ifndef ROOMSTATE_STORE_H
#define ROOMSTATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,           /* no such room / version */
    STORE_PRECONDITION_FAILED, /* If-Match version differs */
    STORE_SCHEMA_NOT_CURRENT,  /* database not migrated (or newer than this binary) */
    STORE_BUSY,                /* still locked after bounded retries */
    STORE_FULL,                /* the disk (or quota) is full: nothing stored; retry later */
    STORE_ERROR,               /* anything else; logged */
};

struct store_saved_by {
    char user_id[37]; /* "" when none */
    char username[129];
    char service[65]; /* "" for a user's own save */
};

struct store_save_req {
    const char *room_id;
    const char *doc; /* the stored document bytes: {"manifests":...,"objects":[...]} */
    size_t doc_len;
    int64_t if_match;    /* required current version, or -1 for none */
    int64_t saved_at_ms; /* wall clock, ms since the epoch */
    const struct store_saved_by *saved_by;
    int64_t objects_saved;
    int64_t history_keep; /* versions to retain, >= 1 */
    /* When the caller stops waiting for the database's write lock (clock_mono_ns()): a save
     * still waiting for it then fails with STORE_BUSY and stores nothing.  0: the store's
     * lock_wait_ms from the call on.  A server sets it when the request arrives, so that
     * time queued for a save worker counts too. */
    int64_t deadline_ns;
};

struct store_save_result {
    int64_t version; /* the new version */
    bool created;    /* true on the room's first save (also after a DELETE? no: false) */
    /* `created` is true only when the room never had a version: its first-ever save.  A save
     * after store_room_delete continues the version count and reports created = false (the
     * room's versions, and so its ETags, are not new). */
};

struct store_state {
    int64_t version;
    int64_t saved_at_ms;
    struct store_saved_by saved_by;
    int64_t objects_saved;
    char *doc; /* malloc'd, doc_len bytes + NUL; store_state_clear frees it */
    size_t doc_len;
};

struct store_version_info {
    int64_t version;
    int64_t saved_at_ms;
    struct store_saved_by saved_by;
    int64_t objects_saved;
    int64_t bytes;
};

struct store;

/* Opens the database at path (creating nothing: the schema comes from roomstate-migrate).
 * Returns STORE_SCHEMA_NOT_CURRENT when migrations are pending or unknown ones are applied;
 * err (errsize bytes) then says what to run. */
enum store_status store_open(const char *path, struct store **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));
void store_close(struct store *s);

/* True when the database is open and its schema is current (for /readyz). */
bool store_ready(struct store *s);

/* Replaces the room's state atomically with a new version (history pruned to
 * history_keep).  Versions are never reused, not even after store_room_delete. */
enum store_status store_room_save(struct store *s, const struct store_save_req *req,
                                  struct store_save_result *res)
    __attribute__((warn_unused_result));

/* The current state (version 0) or a retained earlier version. */
enum store_status store_room_get(struct store *s, const char *room_id, int64_t version,
                                 struct store_state *out) __attribute__((warn_unused_result));

/* The current state, in one read, like store_room_get(s, room_id, 0, out); but when the
 * current version is unless_version (> 0: a version the caller already holds the document
 * of, e.g. in its cache) the document is not read: out->doc stays NULL, the rest is set. */
enum store_status store_room_get_current(struct store *s, const char *room_id,
                                         int64_t unless_version, struct store_state *out)
    __attribute__((warn_unused_result));
void store_state_clear(struct store_state *st);

/* The document of a store_state read by store_room_get* sits STORE_DOC_HEADROOM bytes into
 * its allocation, so that a caller can write a response's first bytes in front of it and
 * send the lot without copying the document.  store_state_take_doc hands that allocation
 * over (the caller frees it; st->doc becomes NULL); store_state_doc_alloc is the backends'
 * allocator (sets st->doc, st->doc_len and the final NUL; NULL when out of memory). */
#define STORE_DOC_HEADROOM 2048
char *store_state_take_doc(struct store_state *st);
char *store_state_doc_alloc(struct store_state *st, size_t len);

/* The current version only (cheap: for If-None-Match / If-Match), or STORE_NOT_FOUND. */
enum store_status store_room_version(struct store *s, const char *room_id, int64_t *version)
    __attribute__((warn_unused_result));

/* Retained versions, newest first; *out is malloc'd (caller frees), *n its length; at most
 * STORE_VERSIONS_MAX (a longer history is an error; --history allows 100000). */
#define STORE_VERSIONS_MAX 1000000
enum store_status store_room_versions(struct store *s, const char *room_id,
                                      struct store_version_info **out, size_t *n)
    __attribute__((warn_unused_result));

/* Removes the state and its history (if_match -1: unconditional).  STORE_NOT_FOUND when the
 * room has no current state (never saved, or already deleted), whatever if_match says;
 * STORE_PRECONDITION_FAILED when if_match >= 0 differs from the current version.  The
 * room's version counter is kept: the next save continues it.
 * store_room_save with if_match >= 0 on a room without current state: PRECONDITION_FAILED. */
enum store_status store_room_delete(struct store *s, const char *room_id, int64_t if_match)
    __attribute__((warn_unused_result));

const char *store_status_name(enum store_status st);

/* For backends: true when req is well-formed (room id, document, history_keep >= 1,
 * if_match >= -1, saved_by's strings terminated, doc_len below 2 GiB). */
bool store_save_req_ok(const struct store_save_req *req);

/* ---- copying a room set between databases (roomstate-migrate copy) --------------------- */
struct store_room_counter {
    int64_t last_version;    /* the highest version ever given (survives DELETE) */
    int64_t current_version; /* 0: no current state (deleted) */
    int64_t updated_at_ms;
};
struct store_room_copy {
    const char *room_id;
    struct store_room_counter counter;
    const struct store_state *versions; /* the retained versions, any order */
    size_t n;
};
/* Every room id (also of deleted rooms, whose counter is kept), ascending; *ids is
 * malloc'd with each string (store_rooms_list_free frees); at most STORE_ROOMS_LIST_MAX. */
#define STORE_ROOMS_LIST_MAX (1 << 26)
enum store_status store_rooms_list(struct store *s, char ***ids, size_t *n)
    __attribute__((warn_unused_result));
void store_rooms_list_free(char **ids, size_t n);
enum store_status store_room_counter(struct store *s, const char *room_id,
                                     struct store_room_counter *out)
    __attribute__((warn_unused_result));
/* Writes a room as given (counter and versions) in one transaction;
 * STORE_PRECONDITION_FAILED (nothing written) when the room exists there already. */
enum store_status store_room_import(struct store *s, const struct store_room_copy *in)
    __attribute__((warn_unused_result));

/* ---- backends (added) ----------------------------------------------------------------
 * store.c dispatches every call above through the ops table of the store's backend; a
 * backend's store struct begins with `struct store` (its ops pointer).  store_open picks the
 * backend from the path with store_backend_of: a plain file path is SQLite (store_sqlite.c);
 * a libpq connection string is PostgreSQL (store_pg.c). */
enum store_backend { STORE_BACKEND_SQLITE, STORE_BACKEND_POSTGRES };
/* POSTGRES for "postgres://..." / "postgresql://..." URIs and libpq key=value strings (the
 * first word is a lower-case keyword followed by '=', e.g. "host=db dbname=rooms");
 * SQLITE for anything else (a file path; write "./a=b.db" for a file named like that). */
enum store_backend store_backend_of(const char *db);

struct store_options {
    /* SQLite: the saves of every store of one database in this process share commits (one
     * writer thread batches them, each save in its own SAVEPOINT, one fsync per batch; a
     * save still returns only once durable; store_group.c).  Default: on.  PostgreSQL
     * ignores it (its server commits concurrent transactions together). */
    bool group_commit;
    /* Longest wait for the database's write lock when another process (or connection) holds
     * it, in ms; then STORE_BUSY (a save's deadline_ns can shorten it).  Default
     * STORE_LOCK_WAIT_MS_DEFAULT. */
    int lock_wait_ms;
    /* SQLite: copy the WAL back into the database on a thread of its own instead of inside
     * the commit that crosses 1,000 frames (store/wal_ckpt.h).  Default: off; group commit
     * turns it on for its writer's connection. */
    bool background_checkpoint;
};
#define STORE_LOCK_WAIT_MS_DEFAULT 2000
void store_options_default(struct store_options *o);

/* store_open with explicit options (opts NULL: the defaults). */
enum store_status store_open_opts(const char *path, const struct store_options *opts,
                                  struct store **out, char *err, size_t errsize)
    __attribute__((warn_unused_result));

struct store_fleet_ops; /* store/fleet.h */

struct store_ops {
    const char *name;
    enum store_status (*open)(const char *path, const struct store_options *opts,
                              struct store **out, char *err, size_t errsize);
    void (*close)(struct store *s);
    bool (*ready)(struct store *s);
    enum store_status (*room_save)(struct store *s, const struct store_save_req *req,
                                   struct store_save_result *res);
    /* unless_version > 0 (only with version 0): store_room_get_current's */
    enum store_status (*room_get)(struct store *s, const char *room_id, int64_t version,
                                  int64_t unless_version, struct store_state *out);
    enum store_status (*room_version)(struct store *s, const char *room_id, int64_t *version);
    enum store_status (*room_versions)(struct store *s, const char *room_id,
                                       struct store_version_info **out, size_t *n);
    enum store_status (*room_delete)(struct store *s, const char *room_id, int64_t if_match);
    enum store_status (*rooms_list)(struct store *s, char ***ids, size_t *n);
    enum store_status (*room_counter)(struct store *s, const char *room_id,
                                      struct store_room_counter *out);
    enum store_status (*room_import)(struct store *s, const struct store_room_copy *in);
    /* n saves in one transaction, each failing alone (store_sqlite_save_batch); NULL when the
     * backend has none.  Group commit (store_group.c) needs it. */
    void (*save_batch)(struct store *s, const struct store_save_req *const reqs[],
                       struct store_save_result *const res[], enum store_status st[], size_t n);
    /* leases and live checkpoints of the relay fleet (store/fleet.h); NULL: none */
    const struct store_fleet_ops *fleet;
};

struct store {
    const struct store_ops *ops;
};

#endif
