/* fleet.h — storage of the relay fleet (docs/http-api.md "Relay fleet"): one hosting lease
 * per room with a fencing number, and one live checkpoint per room.
 *
 * Leases.  A room's lease row keeps the last fence ever given; a new holder gets fence + 1
 * (the first is 1), also after a release or an expiry: a fence is never reused for a room.
 * Checkpoints.  The latest one of a room, written only with the room's current fence while
 * its lease is held (not released, not taken over; an expired lease nobody took over still
 * counts), durable when the call returns, invisible once expired and removed by later
 * checkpoint writes (at most STORE_CKPT_PURGE_BATCH per write).
 *
 * Clock.  Every call takes now_ms, the server's wall clock, which the SQLite backend uses;
 * the PostgreSQL backend ignores it and uses the database's clock_timestamp(), so that
 * several servers on one database agree on expiry.
 *
 * The decisions themselves are the pure functions below (store_lease_decide, ...); each
 * backend reads the room's lease row in a write transaction, decides, writes.  store.c's
 * store_ops has a `fleet` table; fleet.c dispatches to it (through a group-commit store to
 * its own connection). */
#ifndef ROOMSTATE_STORE_FLEET_H
#define ROOMSTATE_STORE_FLEET_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_LEASE_HOLDER_MAX 128
#define STORE_LEASE_TTL_MIN_MS 1000
#define STORE_LEASE_TTL_MAX_MS 60000
#define STORE_CKPT_PURGE_BATCH 100

/* The outcome of a lease or fenced call that the store completed (STORE_OK). */
enum store_lease_outcome {
    STORE_LEASE_OK = 0, /* granted / renewed / released / written / deleted */
    STORE_LEASE_HELD,   /* acquire: an unexpired lease of another holder */
    STORE_LEASE_LOST,   /* the fence given is not the room's current one (or released) */
    STORE_LEASE_NONE,   /* release: no lease; checkpoint delete: no checkpoint */
};

/* A room's lease row; fence 0 and holder "" when the room has none. */
struct store_lease {
    char holder[STORE_LEASE_HOLDER_MAX + 1]; /* "" : released / never held */
    int64_t fence;
    int64_t expires_at_ms;
};

struct store_lease_req {
    const char *room_id;
    const char *holder; /* 1..STORE_LEASE_HOLDER_MAX bytes */
    int64_t ttl_ms;     /* STORE_LEASE_TTL_MIN_MS..STORE_LEASE_TTL_MAX_MS */
    int64_t fence;      /* renew the lease held with this fence; 0: acquire */
};

struct store_lease_result {
    enum store_lease_outcome outcome;
    char holder[STORE_LEASE_HOLDER_MAX + 1]; /* OK: the requester; HELD: the other holder */
    int64_t fence;                           /* OK: the lease's fence */
    int64_t expires_in_ms;                   /* OK, HELD: time left (>= 0) */
};

/* ---- pure decisions (unit-tested) --------------------------------------------------------- */

/* Acquire or renew: from the room's row cur at now_ms, the outcome; on STORE_LEASE_OK *next
 * is the row to write and *out filled; on HELD out names the holder and time left. */
enum store_lease_outcome store_lease_decide(const struct store_lease *cur,
                                            const struct store_lease_req *req, int64_t now_ms,
                                            struct store_lease *next,
                                            struct store_lease_result *out);
/* Release with fence: NONE (no lease: never held, or released), LOST (fence not current),
 * or OK (*next: the released row, fence kept). */
enum store_lease_outcome store_lease_release_decide(const struct store_lease *cur, int64_t fence,
                                                    struct store_lease *next);
/* True when a checkpoint with fence may be written: fence is current and the lease is held
 * (even if it has just expired: the fence is what fences). */
bool store_lease_fence_holds(const struct store_lease *cur, int64_t fence);
/* True when cur is a lease held and unexpired at now_ms. */
bool store_lease_live(const struct store_lease *cur, int64_t now_ms);
/* The view of GET lease: STORE_OK with *out filled when cur is live at now_ms, else
 * STORE_NOT_FOUND. */
enum store_status store_lease_view(const struct store_lease *cur, int64_t now_ms,
                                   struct store_lease_result *out);

/* ---- checkpoints -------------------------------------------------------------------------- */

struct store_ckpt_req {
    const char *room_id;
    int64_t fence;
    const char *doc; /* a JSON object's bytes (the caller checked them) */
    size_t doc_len;
    int64_t ttl_ms; /* expiry after the write, >= 1 */
};

struct store_ckpt {
    enum store_lease_outcome outcome; /* put: OK or LOST */
    int64_t fence;
    int64_t checkpointed_at_ms;
    int64_t expires_in_ms;
    int64_t saved_version; /* -1: the room had no saved state */
    int64_t bytes;
    char *doc; /* get only: malloc'd, bytes + NUL (store_ckpt_clear frees it) */
};
void store_ckpt_clear(struct store_ckpt *c);

/* ---- calls ---------------------------------------------------------------------------------
 * Each returns STORE_OK with the outcome filled, or a store error (STORE_BUSY, ...) with
 * nothing changed.  Arguments are checked here (a bad one is a caller bug: STORE_ERROR). */
enum store_status store_lease_acquire(struct store *s, const struct store_lease_req *req,
                                      int64_t now_ms, struct store_lease_result *out)
    __attribute__((warn_unused_result));
enum store_status store_lease_release(struct store *s, const char *room_id, int64_t fence,
                                      int64_t now_ms, enum store_lease_outcome *out)
    __attribute__((warn_unused_result));
/* The unexpired lease of a room (outcome OK), or STORE_NOT_FOUND. */
enum store_status store_lease_get(struct store *s, const char *room_id, int64_t now_ms,
                                  struct store_lease_result *out)
    __attribute__((warn_unused_result));
/* Writes (replaces) the room's checkpoint when req->fence holds; out: OK (written, fields
 * set) or LOST (nothing written). */
enum store_status store_ckpt_put(struct store *s, const struct store_ckpt_req *req, int64_t now_ms,
                                 struct store_ckpt *out) __attribute__((warn_unused_result));
/* The room's unexpired checkpoint, or STORE_NOT_FOUND. */
enum store_status store_ckpt_get(struct store *s, const char *room_id, int64_t now_ms,
                                 struct store_ckpt *out) __attribute__((warn_unused_result));
/* Deletes it when fence is the room's current fence: OK, LOST, or NONE (no checkpoint). */
enum store_status store_ckpt_delete(struct store *s, const char *room_id, int64_t fence,
                                    int64_t now_ms, enum store_lease_outcome *out)
    __attribute__((warn_unused_result));

/* A backend's fleet operations (arguments already checked by fleet.c). */
struct store_fleet_ops {
    enum store_status (*lease_acquire)(struct store *s, const struct store_lease_req *req,
                                       int64_t now_ms, struct store_lease_result *out);
    enum store_status (*lease_release)(struct store *s, const char *room_id, int64_t fence,
                                       int64_t now_ms, enum store_lease_outcome *out);
    enum store_status (*lease_get)(struct store *s, const char *room_id, int64_t now_ms,
                                   struct store_lease_result *out);
    enum store_status (*ckpt_put)(struct store *s, const struct store_ckpt_req *req, int64_t now_ms,
                                  struct store_ckpt *out);
    enum store_status (*ckpt_get)(struct store *s, const char *room_id, int64_t now_ms,
                                  struct store_ckpt *out);
    enum store_status (*ckpt_delete)(struct store *s, const char *room_id, int64_t fence,
                                     int64_t now_ms, enum store_lease_outcome *out);
};

extern const struct store_fleet_ops store_fleet_sqlite_ops; /* fleet_sqlite.c */
extern const struct store_fleet_ops store_fleet_pg_ops;     /* fleet_pg.c */

#endif
