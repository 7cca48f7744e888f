/* room_int.h — private to the rules module: the functions room.c, control.c, repl.c,
 * flush.c, fastpath.c, room_input.c and room_persist.c share.  They sit above peer.h (output,
 * counters, errors), which calls none of them.  The transport sees only room.h. */
#ifndef ROOMSTATE_RELAY_ROOM_INT_H
#define ROOMSTATE_RELAY_ROOM_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/peer.h"

/* ---- room.c ---- */
const char *room_host_id(const struct relay_room *room); /* NULL when no seat */
struct seat *room_seat(const struct relay_room *room, const char *user_id);
/* Ends the loading state: pending joiners get their WELCOME (restored or not). */
void room_loading_done(struct relay_room *room);

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
