/* room.h — the relay's room rules (docs/relay-protocol.md, whole): presences, host election,
 * object registry, ownership, authority checks, reconnection grace, disconnect cleanup,
 * replication at the tick rate, late-join snapshots, per-room counters.  No WebSocket code:
 * the transport (relay/main.c, relay/ws.c) feeds it frames and drains each peer's outbox;
 * unit tests drive it directly.  Single-threaded: every call from the event loop.
 *
 * Lifecycle the transport follows:
 *   hub = relay_hub_new(&cfg, &hooks, ctx);
 *   after the handshake (token verified): relay_hub_join(hub, room, uid, name, ws_ctx, now, &p)
 *     -> always a peer handle (unless RELAY_JOIN_NOMEM); a refused peer (room_full, bad room)
 *        has an ERROR queued and a close requested, and is in no room.
 *   each received text message (whole, reassembled, <= cfg.max_frame_bytes):
 *        relay_peer_handle(p, bytes, len, now);  over the limit: relay_peer_too_large(p, now)
 *   every 1/tick_hz seconds: relay_hub_tick(hub, now)
 *   hooks.peer_ready(ctx, ws_ctx) fires when a peer has output or a close request (ask for a
 *     writable callback); when writable: relay_peer_next(p, &frame) -> write frame.bytes,
 *     then relay_peer_pop(p); RELAY_OUT_CLOSE -> close with frame.close_code/close_reason.
 *   when the connection is gone (any reason): relay_peer_leave(p, how, now) — the handle is
 *     invalid afterwards.  Never call into the hub from inside a hook.
 * Output order: replies and control-plane messages (presence, host, ownership, spawns, …)
 * are queued at once as their own frames; replication (REP_*) is coalesced and goes out at
 * the tick as one batched frame per recipient (a JSON array when it holds several messages),
 * reliable REP_PROPERTY in order; a peer's pending reliable batch is always queued before a
 * later control message, so each recipient sees every sender's messages in order.
 * A peer that joins a room with objects or manifests (or resumes) gets the object plane
 * live only after its SNAPSHOT_REQUEST was answered; in an empty room, at once.
 * Times are monotonic milliseconds (clock_mono_ns() / 1000000), passed in by the caller. */
#ifndef ROOMSTATE_RELAY_ROOM_H
#define ROOMSTATE_RELAY_ROOM_H

#include "common/roomschema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_MAX_USER_ID 64                               /* bytes, Nakama user ids are 36 */
#define RELAY_MAX_USERNAME 128                             /* bytes */
#define RELAY_MAX_ROOM_ID ROOMSCHEMA_ROOM_ID_MAX_BYTES     /* roomdoc_room_id_valid */
#define RELAY_MAX_OBJECT_ID ROOMSCHEMA_OBJECT_ID_MAX_BYTES /* as in the room document */
#define RELAY_SNAPSHOT_FRAME_MAX 16384 /* every SNAPSHOT_CHUNK frame is at most this */

struct relay_config {
    unsigned max_players;        /* seats per room (grace seats count), default 20 */
    unsigned tick_hz;            /* relay tick, default 20 */
    int64_t grace_ms;            /* reconnection grace, default 10000 */
    int64_t empty_ttl_ms;        /* an empty room is kept this long, default 30000 */
    size_t max_frame_bytes;      /* incoming message limit, default 65536 */
    size_t max_out_frame_bytes;  /* a batched outgoing frame is split above this, default 65536 */
    size_t snapshot_frame_bytes; /* SNAPSHOT_CHUNK frame bound, default (and max) 16384 */
    int64_t snapshot_retain_ms;  /* chunks of a snapshot can be re-requested this long, 30000 */
    double far_distance_m;       /* objects farther than this from a recipient's head are
                                    downshifted, default 8.0 */
    unsigned idle_hz;            /* rate of idle (not held) or far objects, 2..5, default 4 */
    size_t outbox_max_bytes;     /* unsent bytes queued for one peer before it is closed as a
                                    slow consumer (4408), default 4 MiB */
    unsigned outbox_skip_frames; /* with this many frames still unsent, a tick sends no new
                                    unreliable batch to the peer (its latest-wins slots keep
                                    coalescing), default 8 */
    unsigned in_rate_per_s;      /* messages a peer may send per second (token bucket),
                                    default 240, burst twice that */
    unsigned strikes_max;        /* bad messages (malformed, unknown op, rate, not_owner …)
                                    within strike_window_ms before the peer is closed, 100 */
    int64_t strike_window_ms;    /* default 10000 */
    unsigned errors_per_s;       /* ERROR replies per peer per second, default 10 */
    size_t max_objects;          /* per room, default 10000 */
    size_t max_manifests;        /* per room, default 1000 */
    size_t max_properties;       /* per manifest, default 256 */
    size_t frame_headroom;       /* writable bytes before every outgoing frame (LWS_PRE) */
    bool load_timeout_refuses;   /* a room whose state did not load within
                                    RELAY_LOAD_TIMEOUT_MS closes its peers (4503) and is freed
                                    instead of starting empty (fleet mode), default false */
};

/* Fills the defaults above (frame_headroom 0). */
void relay_config_defaults(struct relay_config *cfg);

/* WebSocket close codes the relay asks for (reason text: the short code name). */
enum relay_close_code {
    RELAY_CLOSE_NORMAL = 1000,
    RELAY_CLOSE_GOING_AWAY = 1001, /* "shutdown" */
    RELAY_CLOSE_INTERNAL = 1011,   /* "internal" (out of memory) */
    RELAY_CLOSE_MOVED = 1012,      /* "moved": the relay drains, the room moves: come back */
    RELAY_CLOSE_BAD_INPUT = 4400,  /* "bad_input": kept sending bad messages / floods */
    RELAY_CLOSE_BAD_ROOM = 4404,   /* "bad_room": room id breaks the rule */
    RELAY_CLOSE_SLOW = 4408,       /* "slow_consumer": reliable backlog over the bound */
    RELAY_CLOSE_REPLACED = 4409,   /* "replaced": same user connected again */
    RELAY_CLOSE_LEASE_LOST = 4410, /* "lease_lost": this relay no longer hosts the room */
    RELAY_CLOSE_ROOM_FULL = 4429,  /* "room_full" */
    RELAY_CLOSE_UNAVAIL = 4503,    /* "room_unavailable": hosted by another relay, moving, or
                                          its state could not be read: come back */
};

enum relay_join_result {
    RELAY_JOIN_OK = 0,    /* new seat */
    RELAY_JOIN_RESUMED,   /* same user within the grace (or replacing a live connection):
                             seat, join order, objects and host status kept */
    RELAY_JOIN_ROOM_FULL, /* refused: peer has ERROR room_full queued and a close request */
    RELAY_JOIN_BAD_ROOM,  /* refused: room id breaks the rule, user id empty/too long */
    RELAY_JOIN_NOMEM,     /* *out is NULL: close the connection with 1011 */
};

enum relay_leave_how {
    RELAY_LEAVE_CLEAN,   /* close frame received: cleanup runs at once */
    RELAY_LEAVE_DROPPED, /* no close frame (network drop, timeout): grace keeps the seat */
};
/* When the relay itself asked for the close, its own choice wins: bad_input -> clean,
 * slow_consumer -> dropped (the user can reconnect and resume), replaced/refused -> no
 * effect on the room (the seat belongs to the newer connection or never existed). */

/* Why the room asks the transport to save it. */
enum relay_save_reason {
    RELAY_SAVE_REQUEST = 0, /* host's SAVE_REQUEST; answer with relay_room_save_result */
    RELAY_SAVE_EMPTY,       /* last player left (no answer needed, but allowed) */
};

struct relay_hub;
struct relay_room;
struct relay_peer;

/* The transport's side.  Every hook is optional (NULL); none may call back into the hub. */
struct relay_hooks {
    /* peer_ctx (as given to relay_hub_join) has output or a close request: schedule a
     * writable callback.  Fires once per empty->non-empty transition (and for closes). */
    void (*peer_ready)(void *ctx, void *peer_ctx);
    /* A room was created (first join).  Return true when a load of its saved state was
     * started: the room then waits (see RELAY_LOAD_TIMEOUT_MS) for relay_room_restore,
     * relay_room_restore_none or relay_room_restore_failed before it sends WELCOMEs. */
    bool (*room_created)(void *ctx, struct relay_room *room);
    /* Save doc (a new reference the hook owns; roomdoc-shaped {"manifests","objects"}) for
     * room; acting_user_id: the requesting host, or NULL.  When the hook is NULL, a
     * SAVE_REQUEST is answered SAVE_RESULT ok=false "persistence_disabled". */
    void (*room_save)(void *ctx, struct relay_room *room, json_t *doc_steal,
                      enum relay_save_reason why, const char *acting_user_id);
    /* room is about to be freed (empty-room TTL over, or hub freed): forget it; a result
     * that arrives later finds no room (look rooms up by id with relay_hub_find_room). */
    void (*room_freed)(void *ctx, struct relay_room *room);
    /* The rules decided to close peer_ctx (fires once per peer, before peer_ready).  The
     * close frame waits behind the peer's queued frames (none for a slow consumer: its
     * backlog is dropped), and a peer that never reads may never make its socket writable:
     * the transport counts the close now and bounds how long it waits for the frame. */
    void (*peer_closing)(void *ctx, void *peer_ctx, int code, const char *reason);
};

struct relay_hub *relay_hub_new(const struct relay_config *cfg, const struct relay_hooks *hooks,
                                void *hooks_ctx);
/* Frees every room and every peer (handles are invalid afterwards); room_freed fires. */
void relay_hub_free(struct relay_hub *hub);

/* Joins user_id (the token's uid) to room_id (found or created).  See relay_join_result.
 * peer_ctx is the transport's per-connection pointer, passed back in hooks.  WELCOME is
 * the first message queued for an accepted peer; others get PRESENCE_JOIN (not on resume).
 * A live older connection of the same user is closed with "replaced" (4409) and this one
 * takes its seat (RELAY_JOIN_RESUMED). */
enum relay_join_result relay_hub_join(struct relay_hub *hub, const char *room_id,
                                      const char *user_id, const char *username, void *peer_ctx,
                                      int64_t now_ms, struct relay_peer **out)
    __attribute__((warn_unused_result));

/* One received text message: a JSON object with an integer "op", or an array of such
 * objects (at most 64).  Bad input gets a (rate-limited) ERROR and counts as a strike; too
 * many strikes close the peer with bad_input.  Ignored for a refused/replaced/closing peer. */
void relay_peer_handle(struct relay_peer *peer, const char *frame, size_t len, int64_t now_ms);
/* The transport dropped a message over cfg.max_frame_bytes: ERROR too_large + a strike. */
void relay_peer_too_large(struct relay_peer *peer, int64_t now_ms);

/* The connection is gone; the handle is freed.  See relay_leave_how. */
void relay_peer_leave(struct relay_peer *peer, enum relay_leave_how how, int64_t now_ms);

/* Grace expiry, coalesced replication fan-out (one batched frame per recipient), snapshot
 * retention, empty-room TTL.  Call at cfg.tick_hz. */
void relay_hub_tick(struct relay_hub *hub, int64_t now_ms);

/* Leading-edge forwarding (relay/flush.c): player transforms whose sender-stream is within
 * its rate cap (cfg.tick_hz per second per sender, token bucket with a burst of 2) go out
 * now, one batched frame per recipient, instead of at the next tick; what arrives faster is
 * coalesced and goes out at the tick.  Call after each event-loop pass in which messages
 * were handled, when relay_hub_flush_wanted() (cheap; a no-op otherwise). */
void relay_hub_flush(struct relay_hub *hub, int64_t now_ms);
bool relay_hub_flush_wanted(const struct relay_hub *hub);

/* Asks every peer to close with 1001 "shutdown" (the rooms are not cleaned up). */
void relay_hub_shutdown(struct relay_hub *hub);
/* The same for one room's peers. */
void relay_room_shutdown(struct relay_room *room);

/* ---- output ---- */
enum relay_out { RELAY_OUT_NONE = 0, RELAY_OUT_FRAME, RELAY_OUT_CLOSE };

struct relay_frame {
    /* RELAY_OUT_FRAME: a text frame; cfg.frame_headroom writable bytes precede bytes (the
     * buffer may be shared with other peers: write it before touching another frame). */
    unsigned char *bytes;
    size_t len;
    int64_t origin_ms; /* receipt time of the oldest input it carries, 0 if none */
    unsigned msgs;     /* messages in the frame */
    /* RELAY_OUT_CLOSE: every frame before it was handed out; close with these. */
    int close_code;
    const char *close_reason; /* static string, e.g. "room_full" */
};

/* The next thing to do for peer (does not remove it).  frame.bytes stay valid until
 * relay_peer_pop or the next call into the hub, whichever comes first. */
enum relay_out relay_peer_next(struct relay_peer *peer, struct relay_frame *out);
/* The frame returned by relay_peer_next was written: release it. */
void relay_peer_pop(struct relay_peer *peer);

/* ---- accessors ---- */
void *relay_peer_ctx(const struct relay_peer *peer);
const char *relay_peer_user_id(const struct relay_peer *peer);
/* NULL for a refused or replaced peer. */
struct relay_room *relay_peer_room(const struct relay_peer *peer);
size_t relay_peer_queued_bytes(const struct relay_peer *peer);

const char *relay_room_id(const struct relay_room *room);
struct relay_room *relay_hub_find_room(struct relay_hub *hub, const char *room_id);
size_t relay_hub_room_count(const struct relay_hub *hub);
size_t relay_hub_peer_count(const struct relay_hub *hub); /* connected peers in rooms */

/* ---- counters (the transport exposes them in /metrics) ---- */
enum relay_drop {
    RELAY_DROP_STALE = 0,
    RELAY_DROP_EPOCH,
    RELAY_DROP_NOT_OWNER,
    RELAY_DROP_NOT_HOST,
    RELAY_DROP_RATE,
    RELAY_DROP_MALFORMED,
    RELAY_DROP_UNKNOWN_OP,
    RELAY_DROP_BAD_FIELD,
    RELAY_DROP_TOO_LARGE,
    RELAY_DROP_UNKNOWN_OBJECT,
    RELAY_DROP_UNDECLARED,
    RELAY_DROP_COALESCED, /* replaced by a newer message before it was sent */
    RELAY_DROP_SLOW,      /* unreliable batch skipped for a backlogged peer */
    RELAY_DROP_NOT_READY, /* sent before its WELCOME (the room's saved state was loading) */
    RELAY_DROP_COUNT
};
const char *relay_drop_name(enum relay_drop d); /* "stale", "epoch", "not_owner", … */

#define RELAY_COUNTED_OPS 64
struct relay_counters {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, frames_in, frames_out;
    uint64_t msgs_in_by_op[RELAY_COUNTED_OPS]; /* op >= 64 or unknown: slot 0 */
    uint64_t msgs_out_by_op[RELAY_COUNTED_OPS];
    uint64_t drops[RELAY_DROP_COUNT];
};
/* One connection's figures since it joined (drops: of its messages; slow: of its tick data). */
struct relay_peer_stats {
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out, frames_out;
    uint64_t drops[RELAY_DROP_COUNT];
};
const struct relay_peer_stats *relay_peer_stats(const struct relay_peer *peer);
/* Per room (since it was created), and for the hub (all rooms, freed ones included). */
const struct relay_counters *relay_room_counters(const struct relay_room *room);
const struct relay_counters *relay_hub_counters(const struct relay_hub *hub);
size_t relay_room_peer_count(const struct relay_room *room); /* connected */
size_t relay_room_seat_count(const struct relay_room *room); /* connected + in grace */
/* Calls fn for every room (do not join/leave from fn). */
void relay_hub_foreach_room(struct relay_hub *hub, void (*fn)(struct relay_room *, void *),
                            void *ud);
/* Calls fn for every connected peer of room, in join order (do not join/leave from fn). */
void relay_room_foreach_peer(struct relay_room *room, void (*fn)(struct relay_peer *, void *),
                             void *ud);
/* A room's fan-out latency histogram, fed by the transport for every frame it writes that
 * carries input (relay_frame.origin_ms); the bucket bounds are the transport's (metrics.h). */
#define RELAY_FANOUT_BUCKETS 12
struct relay_fanout_hist {
    uint64_t buckets[RELAY_FANOUT_BUCKETS]; /* per bucket, not cumulative; a latency above
                                               the last bound counts only in count */
    uint64_t count;
    double sum_s;
};
/* bucket >= RELAY_FANOUT_BUCKETS: above every bound. */
void relay_room_fanout_add(struct relay_room *room, size_t bucket, double seconds);
const struct relay_fanout_hist *relay_room_fanout(const struct relay_room *room);

/* ---- persistence (issue 5) ---- */
/* The registry as a roomdoc-shaped document: {"manifests": {id: {"properties": {name:
 * {"tier", "durable"?}}}}, "objects": [{object_id, manifest_id, persist_mode, owner_id,
 * held_by, placed, seq, transform, properties}]}.  New reference, NULL on out of memory. */
json_t *relay_room_export(const struct relay_room *room);
/* Restores a GET /rooms/{id}/state document (or any roomdoc-shaped document): manifests
 * and objects are added (owned by the host; existing ids are replaced), synced peers get
 * MANIFEST_REGISTER / OBJECT_SPAWN, later WELCOMEs say restored with version.  Returns 0,
 * or -1 when doc is not roomdoc-shaped (nothing changed). */
int relay_room_restore(struct relay_room *room, const json_t *doc, long long version,
                       int64_t now_ms) __attribute__((warn_unused_result));
/* The state could not be loaded. */
void relay_room_restore_failed(struct relay_room *room, const char *why);
/* The room was never saved (404): nothing to restore. */
void relay_room_restore_none(struct relay_room *room);
/* While a new room's saved state loads (room_created hook set), its joiners get their
 * WELCOME only when the load ends (restore, restore_none, restore_failed, or this bound),
 * so that WELCOME can say whether the room was restored and from which version.  Until then
 * they receive nothing and what they send is dropped (not_ready). */
#define RELAY_LOAD_TIMEOUT_MS 10000
/* Answer of a RELAY_SAVE_REQUEST save: SAVE_RESULT to everyone in the room
 * {"op":51,"ok":true,"version":V,"objects_saved":N,"by":uid} or {"ok":false,"error":why}. */
void relay_room_save_result(struct relay_room *room, bool ok, long long version,
                            long long objects_saved, const char *error, const char *by_user_id);

/* ---- fleet (issue 10): live checkpoints, hand-over between relays ---- */
/* The room's whole live registry as a JSON object (relay/checkpoint.c): manifests, every
 * object of every persist mode with owner, holder, placed, epoch, seq watermarks, transform
 * and properties, the presences in join order (the host first), the next join order and the
 * registry revision.  New reference, NULL on out of memory. */
json_t *relay_room_checkpoint(const struct relay_room *room);
/* While the room loads (room_created returned true): restores a checkpoint.  Players of the
 * checkpoint who have not reconnected yet get their seats back in the reconnection grace
 * (same join order, so the host stays the host); those who joined meanwhile keep theirs.
 * saved_version: the room's saved version the checkpoint was taken at (-1: never saved),
 * reported in WELCOME (restored_from "checkpoint").  Returns 0, or -1 when ckpt is malformed
 * or the room is not loading (nothing changed). */
int relay_room_restore_checkpoint(struct relay_room *room, const json_t *ckpt,
                                  long long saved_version, int64_t now_ms)
    __attribute__((warn_unused_result));
/* Grows with every change a checkpoint holds (registry revision and seats). */
uint64_t relay_room_changes(const struct relay_room *room);
/* Whether the room still waits for its state (no WELCOME sent yet). */
bool relay_room_loading(const struct relay_room *room);
/* From now on the room drops what its peers send (not_ready): its state is final. */
void relay_room_freeze(struct relay_room *room);
/* Closes every connected peer of room with code/reason (static string) and frees the room at
 * once: no cleanup, no save (room_freed fires).  Not from inside a hook. */
void relay_room_evict(struct relay_room *room, int code, const char *reason);

#endif
