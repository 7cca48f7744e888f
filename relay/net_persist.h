/* net_persist.h — glue between the rules' persistence hooks (relay/room.h: room_created,
 * room_save) and the room-state service client (relay/persist.h).
 *
 * Called from the event loop only.  A load or save is submitted to the persist worker; its
 * result (and any failure to submit) is handed back to the room in net_persist_poll, which
 * the transport calls after every event (never from inside a hook):
 *   load 200 -> relay_room_restore(doc, version); 404 -> nothing (never saved);
 *   other    -> relay_room_restore_failed(why);
 *   save of a SAVE_REQUEST -> relay_room_save_result(ok, version, objects_saved | error);
 *   save of an emptied room -> logged.
 * Results for a room that no longer exists are dropped (rooms are looked up by id). */
#ifndef ROOMSTATE_RELAY_NET_PERSIST_H
#define ROOMSTATE_RELAY_NET_PERSIST_H

#include "relay/room.h"

#include <stddef.h>
#include <stdint.h>

struct persist_config;
struct net_persist;

/* Starts the persist worker; wake(ud) runs on the worker thread after each completion.
 * NULL (logged) on failure. */
struct net_persist *net_persist_new(const struct persist_config *cfg, void (*wake)(void *ud),
                                    void *ud);
void net_persist_free(struct net_persist *np);

/* From the room_created hook: GET /rooms/{id}/state. */
void net_persist_load(struct net_persist *np, struct relay_room *room);
/* From the room_save hook: POST /rooms/{id}/save (takes doc). */
void net_persist_save(struct net_persist *np, struct relay_room *room, json_t *doc_steal,
                      enum relay_save_reason why, const char *acting_user_id);
/* Hands finished requests back to their rooms.  Never from inside a hook. */
void net_persist_poll(struct net_persist *np, struct relay_hub *hub, int64_t now_ms);
/* Results this module does not handle itself (checkpoints, leases, loads with a non-zero
 * tag: the fleet's) go to fn in net_persist_poll. */
struct persist_result;
void net_persist_set_other(struct net_persist *np,
                           void (*fn)(void *ud, struct relay_hub *hub,
                                      const struct persist_result *r, int64_t now_ms),
                           void *ud);
/* The worker of room_id, to queue more requests in order with its loads and saves (every
 * room has one of several workers, each with its own connection to the server). */
struct persist *net_persist_worker(struct net_persist *np, const char *room_id);
/* room_id's shard among n (FNV-1a of the id). */
unsigned net_persist_shard(const char *room_id, unsigned n);
/* Restores a GET state answer of 200 into room (relay_room_restore).  0, or -1 when the
 * document is unusable (the room is left loading). */
int net_persist_apply_state(struct relay_room *room, const struct persist_result *r,
                            int64_t now_ms);
/* Requests queued, in flight, or waiting to be handed back. */
size_t net_persist_pending(const struct net_persist *np);

#endif
