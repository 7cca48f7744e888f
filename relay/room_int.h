/* room_int.h — private to the rules module (room.c, control.c, repl.c): the hub, room,
 * seat and peer structures and the helpers the three files share.  The transport sees only
 * room.h. */
#ifndef ROOMSTATE_RELAY_ROOM_INT_H
#define ROOMSTATE_RELAY_ROOM_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/outbox.h"
#include "relay/registry.h"
#include "relay/room.h"
#include "relay/snapshot.h"
#include "relay/strmap.h"

#define MAX_BATCH_IN 64 /* messages in one incoming array frame */

/* A seat: a user's place in the room, kept through the reconnection grace. */
struct seat {
    char user_id[RELAY_MAX_USER_ID + 1];
    char username[RELAY_MAX_USERNAME + 1];
    uint64_t join_order;
    struct relay_peer *conn; /* NULL while in grace */
    int64_t grace_deadline_ms;
    /* player transform stream */
    uint64_t tf_seq;
    bool tf_seen;
    struct relay_msg *tf_msg; /* latest REP_TRANSFORM, encoded once */
    uint64_t tf_tick;         /* tick window it arrived in (0: none pending) */
    bool tf_early;            /* flush.c: goes out in the flush in progress */
    bool tf_tok_init;
    double tf_tok;     /* rate-cap token bucket (cfg.tick_hz per s, burst 2) */
    int64_t tf_tok_ms; /* its last refill */
    double head[3];
    bool head_known;
};

struct relay_room {
    struct relay_hub *hub;
    struct relay_room *prev, *next; /* hub list */
    char id[RELAY_MAX_ROOM_ID + 1];
    struct seat **seats; /* join order; seats[0] is the host */
    size_t nseats;
    uint64_t next_join_order;
    struct registry reg;
    uint64_t rev; /* sequence watermark: accepted registry changes */
    uint64_t next_snapshot;
    struct relay_snapshot *snap_cache; /* valid while snap_cache->watermark == rev */
    bool restored;
    long long restored_version;
    bool loading; /* saved state being loaded: joiners wait for their WELCOME */
    int64_t loading_since_ms;
    int64_t empty_since_ms; /* 0 while someone has a seat */
    struct relay_counters counters;
    struct relay_fanout_hist fanout;
    bool flush_wanted; /* a stream has an update the next leading-edge flush may send */
};

struct relay_peer {
    struct relay_hub *hub;
    struct relay_peer *prev, *next; /* every peer of the hub, refused ones included */
    struct relay_room *room;        /* NULL: refused or replaced */
    struct seat *seat;
    void *ctx;
    char user_id[RELAY_MAX_USER_ID + 1];
    uint64_t session;
    struct outbox out;
    struct msgvec pending; /* reliable messages of this tick window, in order */
    bool close_requested;
    int close_code;
    const char *close_reason;
    bool synced;          /* asked for a snapshot: gets the object plane live */
    bool welcome_pending; /* joined while the room was loading: no WELCOME yet */
    bool welcome_resumed;
    struct relay_snapshot *snap;
    int64_t snap_expiry_ms;
    /* first tick window whose unreliable data was skipped for this peer (backlogged), 0 when
     * none: its next batch carries the latest of every stream that changed since */
    uint64_t unrel_since;
    struct relay_peer_stats stats;
    /* the text of the message being handled when the frame held exactly one (else NULL):
     * a well-formed REP_* message is relayed from it without re-encoding */
    const char *raw;
    size_t raw_len;
    char from_field[RELAY_MAX_USER_ID * 6 + 12]; /* "from":"<user id, JSON-escaped>", */
    size_t from_field_len;
    /* input limits */
    double tokens;
    int64_t tokens_ms;
    unsigned strikes;
    int64_t strike_window_start_ms;
    unsigned errors_this_s;
    int64_t error_window_start_ms;
};

struct relay_hub {
    struct relay_config cfg;
    struct relay_hooks hooks;
    void *hooks_ctx;
    struct strmap rooms;
    struct relay_room *rooms_head;
    struct relay_peer *peers_head; /* every live handle (freed by relay_hub_free) */
    size_t nrooms;
    size_t npeers;
    uint64_t tick;     /* current tick window, starts at 1 */
    bool flush_wanted; /* some room has flush_wanted */
    int64_t now_ms;    /* of the call in progress */
    uint64_t next_session;
    uint64_t session_salt;
    struct relay_counters counters;
    struct msg_pool pool;       /* every message buffer of this hub */
    struct relay_msg **scratch; /* one recipient's messages of a tick (repl.c) */
    size_t scratch_cap;
    struct reg_object **cand; /* a room's objects with deliverable updates this tick */
    size_t cand_cap;
};

/* ---- room.c ---- */
const char *room_host_id(const struct relay_room *room); /* NULL when no seat */
struct seat *room_seat(const struct relay_room *room, const char *user_id);
/* Queues m for one peer now (its tick's reliable messages go first); counts it. */
void peer_send(struct relay_peer *p, struct relay_msg *m);
/* Queues one frame as is (repl.c's batches); slow-consumer bound applied. */
void peer_push_frame(struct relay_peer *p, struct relay_msg *m);
/* Encodes v once and sends it to every connected peer of room (except `except`); when
 * object_plane, peers that have not asked for a snapshot yet are skipped, but `self` (the
 * peer that caused it) always gets it.  Steals v. */
/* Ends the loading state: pending joiners get their WELCOME (restored or not). */
void room_loading_done(struct relay_room *room);
void room_broadcast(struct relay_room *room, json_t *v_steal, bool object_plane,
                    const struct relay_peer *except, const struct relay_peer *self,
                    int64_t origin_ms);
/* ERROR {"op":5,"code","message","cause_op"} (rate-limited per peer) and a strike. */
void peer_error(struct relay_peer *p, const char *code, const char *message, int cause_op,
                enum relay_drop drop);
void peer_request_close(struct relay_peer *p, int code, const char *reason);
void counters_out(struct relay_room *room, const struct relay_msg *m, size_t copies);
void counters_drop(struct relay_room *room, enum relay_drop d);
/* A message of p dropped for d: counted for the peer, its room and the hub. */
void peer_drop(struct relay_peer *p, enum relay_drop d);
/* by_op[op]++ (n times); ops outside 1..RELAY_COUNTED_OPS-1 count in slot 0. */
void counters_op(uint64_t *by_op, int op, uint64_t n);

/* ---- control.c: the control plane (ops 10-25, 40, 50) ---- */
void control_handle(struct relay_peer *p, int op, json_t *msg, int64_t now_ms);
/* Cleanup of a leaving seat's objects (after it was removed from the seat list;
 * old_host: whether it was the host, whose unheld objects go to the new host). */
void control_cleanup_seat(struct relay_room *room, const char *user_id, bool old_host,
                          int64_t now_ms);
void control_snapshot_expire(struct relay_peer *p, int64_t now_ms);

/* ---- repl.c: the replication plane (ops 30-32) and the tick fan-out ---- */
void repl_handle(struct relay_peer *p, int op, json_t *msg, int64_t now_ms);
void repl_tick_room(struct relay_room *room, int64_t now_ms);
/* A peer's reliable pending messages as frame(s) into its outbox. */
void repl_flush_pending(struct relay_peer *p);

/* The relayed form of the message p->raw (see repl.c's raw_relay): "from" added, the listed
 * fields with the sender's bytes; NULL when it cannot be built from the text (the caller
 * re-encodes) or on out of memory. */
struct relay_msg *repl_raw_forward(struct relay_peer *p, int op, int64_t now_ms);

/* ---- fastpath.c: REP_TRANSFORM without a JSON tree ---- */
struct fastpath_transform {
    uint64_t seq;
    double head[3];
};
/* Whether text is a REP_TRANSFORM of the one shape the fast path takes (valid JSON that the
 * JSON path would relay from its text unchanged); fills seq and head.p. */
bool fastpath_scan_transform(const char *text, size_t len, struct fastpath_transform *out);
/* rep_transform's work for a scanned message (p->raw set, p->seat and p->from_field_len
 * non-zero): stale drop, relayed form, coalescing. */
void fastpath_transform(struct relay_peer *p, const struct fastpath_transform *tf, int64_t now_ms);

/* ---- flush.c: leading-edge forwarding of player transforms (relay_hub_flush) ---- */
/* After p's message was handled: a pending transform of p's stream wants a flush. */
void flush_note(struct relay_peer *p);
/* At the tick, before repl_tick_room: the transforms it forwards take a rate-cap token. */
void flush_tick_room(struct relay_room *room, int64_t now_ms);

#endif
