/* fleet.h — the relay's side of a fleet of relays (issue 10): one host relay per room,
 * fenced by a lease in roomstate-server, and live checkpoints so that a room survives its
 * relay's drain (SIGTERM) or crash.  Transport-level glue like net_persist.h: it calls the
 * rules' public API (room.h) from the event loop, never from inside a hook.
 *
 * Per room:
 *   created (first join; its joiners wait without WELCOME)
 *     -> POST lease {holder, ttl_ms} on the lease worker (its own thread: a slow checkpoint
 *        never delays a renewal)
 *        409 lease-held -> asked again when the holder's lease ends (expires_in_ms, within
 *        300 ms), until the rules' load bound (RELAY_LOAD_TIMEOUT_MS) closes the joiners
 *        with 4503; no answer (3 tries) or a server without the endpoint (404): the room is
 *        hosted as by a single relay, without lease or checkpoints
 *     -> 200: GET checkpoint and GET state (room-state worker, in order); the checkpoint
 *        wins when its saved_version equals the room's saved version (both absent when
 *        never saved), else the save (or nothing); a failed read closes the joiners with
 *        4503 and releases the lease (never host a room whose state could not be read)
 *     -> serving: lease renewed every ttl/3; PUT checkpoint?fence every checkpoint interval
 *        while relay_room_changes() moved (and after every save submitted); a 409 (lease
 *        lost) or the relay's own clock passing the lease closes the room's peers with 4410
 *     -> freed the normal way (empty-room TTL): DELETE checkpoint?fence, then DELETE
 *        lease?fence (in that order)
 *   drain (SIGTERM): every served room is frozen, its final checkpoint written, its lease
 *   released, then its peers closed with 1012 "moved". */
#ifndef ROOMSTATE_RELAY_FLEET_H
#define ROOMSTATE_RELAY_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/persist.h"
#include "relay/room.h"

#define FLEET_INSTANCE_MAX 128

struct net_persist;
struct fleet;

struct fleet_config {
    const char *instance_id;              /* lease holder; NULL: generated (host-pid-random) */
    int64_t lease_ttl_ms;                 /* 1000..60000 */
    int64_t checkpoint_interval_ms;       /* >= 100 */
    const struct persist_config *persist; /* server and service key (lease worker) */
};

struct fleet_stats {
    uint64_t leases_acquired, leases_renewed, leases_lost, leases_taken_over;
    uint64_t leases_held_elsewhere, leases_released, lease_errors;
    uint64_t checkpoints_written, checkpoints_failed, checkpoint_bytes;
    uint64_t checkpoints_deleted;
    double checkpoint_seconds; /* sum of the written ones' latencies */
    uint64_t restored_checkpoint, restored_save, restored_none, restore_failed;
    uint64_t rooms_refused;  /* rooms closed before they were served (4503) */
    uint64_t rooms_unleased; /* hosted without a lease: server unreachable or too old */
};

/* np: the room-state worker (loads, saves, checkpoints go through it in order). */
struct fleet *fleet_new(const struct fleet_config *cfg, struct net_persist *np,
                        void (*wake)(void *ud), void *ud);
void fleet_free(struct fleet *f);

/* Hooks (from inside hub calls: they only record and submit). */
void fleet_room_created(struct fleet *f, struct relay_room *room, int64_t now_ms);
void fleet_room_freed(struct fleet *f, struct relay_room *room);
void fleet_room_saved(struct fleet *f, struct relay_room *room);

/* Results of the room-state worker that net_persist hands over (checkpoints, loads with a
 * non-zero tag). */
void fleet_on_state_result(void *fleet, struct relay_hub *hub, const struct persist_result *r,
                           int64_t now_ms);
/* Lease answers; after every event. */
void fleet_poll(struct fleet *f, struct relay_hub *hub, int64_t now_ms);
/* Renewals, checkpoints, the relay's own lease clock; at every relay tick. */
void fleet_tick(struct fleet *f, struct relay_hub *hub, int64_t now_ms);
/* Cheap: some lease may have run out by the relay's clock (call fleet_tick before handling
 * input, e.g. after the process was stopped). */
bool fleet_tick_due(const struct fleet *f, int64_t now_ms);

/* Starts the drain (see above); fleet_idle() once every room is handed over. */
void fleet_drain(struct fleet *f, struct relay_hub *hub, int64_t now_ms);
bool fleet_idle(const struct fleet *f);

const char *fleet_instance(const struct fleet *f);
size_t fleet_rooms_hosted(const struct fleet *f); /* served now */
size_t fleet_leases_held(const struct fleet *f);
const struct fleet_stats *fleet_stats(const struct fleet *f);
/* Prometheus text of the figures above (unlabelled), malloc'd; NULL on out of memory. */
char *fleet_metrics_render(const struct fleet *f, size_t *len);

#endif
