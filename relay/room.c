/* room.c — the relay's room rules (see room.h).  First commit: the API with stubs, so the
 * transport can build against it; the rules follow. */
#include "relay/room.h"

#include <stdlib.h>
#include <string.h>

void relay_config_defaults(struct relay_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_players = 20;
    cfg->tick_hz = 20;
    cfg->grace_ms = 10000;
    cfg->empty_ttl_ms = 30000;
    cfg->max_frame_bytes = 65536;
    cfg->max_out_frame_bytes = 65536;
    cfg->snapshot_frame_bytes = RELAY_SNAPSHOT_FRAME_MAX;
    cfg->snapshot_retain_ms = 30000;
    cfg->far_distance_m = 8.0;
    cfg->idle_hz = 4;
    cfg->outbox_max_bytes = 1u << 20;
    cfg->outbox_skip_frames = 8;
    cfg->in_rate_per_s = 240;
    cfg->strikes_max = 100;
    cfg->strike_window_ms = 10000;
    cfg->errors_per_s = 10;
    cfg->max_objects = 10000;
    cfg->max_manifests = 1000;
    cfg->max_properties = 256;
}

struct relay_hub { struct relay_counters counters; };

struct relay_hub *relay_hub_new(const struct relay_config *cfg, const struct relay_hooks *hooks,
                                void *hooks_ctx)
{
    (void)cfg; (void)hooks; (void)hooks_ctx;
    return calloc(1, sizeof(struct relay_hub));
}
void relay_hub_free(struct relay_hub *hub) { free(hub); }
enum relay_join_result relay_hub_join(struct relay_hub *hub, const char *room_id,
                                      const char *user_id, const char *username, void *peer_ctx,
                                      int64_t now_ms, struct relay_peer **out)
{
    (void)hub; (void)room_id; (void)user_id; (void)username; (void)peer_ctx; (void)now_ms;
    *out = NULL;
    return RELAY_JOIN_NOMEM;
}
void relay_peer_handle(struct relay_peer *peer, const char *frame, size_t len, int64_t now_ms)
{ (void)peer; (void)frame; (void)len; (void)now_ms; }
void relay_peer_too_large(struct relay_peer *peer, int64_t now_ms) { (void)peer; (void)now_ms; }
void relay_peer_leave(struct relay_peer *peer, enum relay_leave_how how, int64_t now_ms)
{ (void)peer; (void)how; (void)now_ms; }
void relay_hub_tick(struct relay_hub *hub, int64_t now_ms) { (void)hub; (void)now_ms; }
void relay_hub_shutdown(struct relay_hub *hub) { (void)hub; }
enum relay_out relay_peer_next(struct relay_peer *peer, struct relay_frame *out)
{ (void)peer; memset(out, 0, sizeof *out); return RELAY_OUT_NONE; }
void relay_peer_pop(struct relay_peer *peer) { (void)peer; }
void *relay_peer_ctx(const struct relay_peer *peer) { (void)peer; return NULL; }
const char *relay_peer_user_id(const struct relay_peer *peer) { (void)peer; return ""; }
struct relay_room *relay_peer_room(const struct relay_peer *peer) { (void)peer; return NULL; }
size_t relay_peer_queued_bytes(const struct relay_peer *peer) { (void)peer; return 0; }
const char *relay_room_id(const struct relay_room *room) { (void)room; return ""; }
struct relay_room *relay_hub_find_room(struct relay_hub *hub, const char *room_id)
{ (void)hub; (void)room_id; return NULL; }
size_t relay_hub_room_count(const struct relay_hub *hub) { (void)hub; return 0; }
size_t relay_hub_peer_count(const struct relay_hub *hub) { (void)hub; return 0; }
const char *relay_drop_name(enum relay_drop d) { (void)d; return "other"; }
const struct relay_counters *relay_room_counters(const struct relay_room *room)
{ (void)room; return NULL; }
const struct relay_counters *relay_hub_counters(const struct relay_hub *hub)
{ return &hub->counters; }
size_t relay_room_peer_count(const struct relay_room *room) { (void)room; return 0; }
size_t relay_room_seat_count(const struct relay_room *room) { (void)room; return 0; }
void relay_hub_foreach_room(struct relay_hub *hub, void (*fn)(struct relay_room *, void *),
                            void *ud) { (void)hub; (void)fn; (void)ud; }
json_t *relay_room_export(const struct relay_room *room) { (void)room; return NULL; }
int relay_room_restore(struct relay_room *room, const json_t *doc, long long version,
                       int64_t now_ms) { (void)room; (void)doc; (void)version; (void)now_ms; return -1; }
void relay_room_restore_failed(struct relay_room *room, const char *why) { (void)room; (void)why; }
void relay_room_save_result(struct relay_room *room, bool ok, long long version,
                            long long objects_saved, const char *error, const char *by_user_id)
{ (void)room; (void)ok; (void)version; (void)objects_saved; (void)error; (void)by_user_id; }
