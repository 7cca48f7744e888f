/* room_types.h — the rules module's data: hub, rooms, seats and peers (private to relay/;
 * the transport sees only room.h).  Types only: the functions that work on them are layered
 * peer.h (output, counters, errors: no calls upward) < room_int.h (rooms, control plane,
 * replication) < room.h (the transport's API). */
#ifndef ROOMSTATE_RELAY_ROOM_TYPES_H
#define ROOMSTATE_RELAY_ROOM_TYPES_H

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
    long long restored_version; /* -1: restored from a checkpoint of a never saved room */
    bool restored_checkpoint;   /* restored from a live checkpoint (else from a save) */
    bool frozen;                /* relay_room_freeze: input dropped */
    uint64_t seat_gen;          /* seats added or removed (relay_room_changes) */
    bool loading;               /* saved state being loaded: joiners wait for their WELCOME */
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

#endif
