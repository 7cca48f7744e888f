/* peer.h — the rules' output side, below every rules file (room.c, control.c, repl.c,
 * flush.c, room_persist.c, and the fleet code): a peer's queue of frames, its close request,
 * ERROR replies with strikes, broadcasts to a room, and the counters they feed.  Calls
 * nothing above it; the transport learns of new output through hooks.peer_ready. */
#ifndef ROOMSTATE_RELAY_PEER_H
#define ROOMSTATE_RELAY_PEER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/room_types.h"

/* A new peer handle of hub (in no room yet); NULL when out of memory. */
struct relay_peer *peer_new(struct relay_hub *hub, const char *user_id, void *ctx, int64_t now_ms);
/* Unlinks and frees the handle (its queued frames are dropped). */
void peer_free(struct relay_peer *p);

/* Queues m for one peer now (its tick's reliable messages go first); counts it. */
void peer_send(struct relay_peer *p, struct relay_msg *m);
/* Encodes v (steals it; NULL is ignored) and sends it to p; out of memory closes p (1011). */
void peer_send_json(struct relay_peer *p, json_t *v_steal);
/* Queues one frame as is; slow-consumer bound applied. */
void peer_push_frame(struct relay_peer *p, struct relay_msg *m);
/* msgs as batched frames of at most cfg.max_out_frame_bytes (one frame in the usual case),
 * counted per op. */
void peer_push_batches(struct relay_peer *p, struct relay_msg *const *msgs, size_t n);
/* A peer's reliable pending messages (p->pending) as frame(s) into its outbox. */
void peer_flush_pending(struct relay_peer *p);
/* Encodes v once and sends it to every connected peer of room (except `except`); when
 * object_plane, peers that have not asked for a snapshot yet are skipped, but `self` (the
 * peer that caused it) always gets it.  Peers still waiting for their WELCOME get nothing.
 * Steals v. */
void room_broadcast(struct relay_room *room, json_t *v_steal, bool object_plane,
                    const struct relay_peer *except, const struct relay_peer *self,
                    int64_t origin_ms);
/* ERROR {"op":5,"code","message","cause_op"} (rate-limited per peer) and a strike. */
void peer_error(struct relay_peer *p, const char *code, const char *message, int cause_op,
                enum relay_drop drop);
/* Asks the transport to close p with code/reason (static string) after its queued frames
 * (a slow consumer's backlog is dropped).  Once per peer. */
void peer_request_close(struct relay_peer *p, int code, const char *reason);

void counters_out(struct relay_room *room, const struct relay_msg *m, size_t copies);
void counters_drop(struct relay_room *room, enum relay_drop d);
/* A message of p dropped for d: counted for the peer, its room and the hub. */
void peer_drop(struct relay_peer *p, enum relay_drop d);
/* by_op[op]++ (n times); ops outside 1..RELAY_COUNTED_OPS-1 count in slot 0. */
void counters_op(uint64_t *by_op, int op, uint64_t n);

#endif
