/* room.c — the relay's rooms: hub, seats in join order, host election, joins (replacement,
 * resume within the grace, capacity), leaves and grace expiry, output queues, errors and
 * strikes, counters.  Input parsing is in room_input.c, the control plane (ownership,
 * registry, snapshots) in control.c, the replication plane and the tick fan-out in repl.c,
 * the persistence hooks in room_persist.c. */
#include "relay/room_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/roomdoc.h"
#include "opcodes.h"
#include "relay/jsonenc.h"

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
    cfg->outbox_max_bytes = 4u << 20;
    cfg->outbox_skip_frames = 8;
    cfg->in_rate_per_s = 240;
    cfg->strikes_max = 100;
    cfg->strike_window_ms = 10000;
    cfg->errors_per_s = 10;
    cfg->max_objects = 10000;
    cfg->max_manifests = 1000;
    cfg->max_properties = 256;
}

static const char *const drop_names[RELAY_DROP_COUNT] = {
    "stale",      "epoch",      "not_owner", "not_host",  "rate",
    "malformed",  "unknown_op", "bad_field", "too_large", "unknown_object",
    "undeclared", "coalesced",  "slow",      "not_ready"};

const char *relay_drop_name(enum relay_drop d)
{
    return (unsigned)d < RELAY_DROP_COUNT ? drop_names[d] : "other";
}

/* ---- seats ---- */
const char *room_host_id(const struct relay_room *room)
{
    return room->nseats ? room->seats[0]->user_id : NULL;
}

struct seat *room_seat(const struct relay_room *room, const char *user_id)
{
    for (size_t i = 0; i < room->nseats; i++)
        if (strcmp(room->seats[i]->user_id, user_id) == 0)
            return room->seats[i];
    return NULL;
}

static json_t *presences_json(const struct relay_room *room)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < room->nseats; i++) {
        const struct seat *s = room->seats[i];
        if (json_array_append_new(a, json_pack("{sssssIsb}", "user_id", s->user_id, "username",
                                               s->username, "join_order", (json_int_t)s->join_order,
                                               "connected", s->conn != NULL)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void send_welcome(struct relay_peer *p, bool resumed)
{
    struct relay_room *room = p->room;
    char session[24];
    snprintf(session, sizeof session, "%016llx", (unsigned long long)p->session);
    const char *host = room_host_id(room);
    peer_send_json(p,
                   json_pack("{sisssssssssosIsosisbsbsosisiso}", "op", OP_WELCOME, "session_id",
                             session, "user_id", p->seat->user_id, "username", p->seat->username,
                             "room_id", room->id, "host_id", host ? json_string(host) : json_null(),
                             "join_order", (json_int_t)p->seat->join_order, "presences",
                             presences_json(room), "tick_hz", (int)p->hub->cfg.tick_hz, "resumed",
                             resumed, "restored", room->restored, "restored_version",
                             room->restored && room->restored_version >= 0
                                 ? json_integer(room->restored_version)
                                 : json_null(),
                             "max_players", (int)p->hub->cfg.max_players, "snapshot_frame_bytes",
                             (int)p->hub->cfg.snapshot_frame_bytes, "restored_from",
                             !room->restored             ? json_null()
                             : room->restored_checkpoint ? json_string("checkpoint")
                                                         : json_string("save")));
}

static void seat_free(struct seat *s)
{
    relay_msg_unref(s->tf_msg);
    free(s);
}

/* Removes a seat (clean leave, grace over, kicked): PRESENCE_LEAVE, HOST_CHANGED, cleanup. */
static void room_remove_seat(struct relay_room *room, struct seat *s, const char *reason,
                             int64_t now_ms)
{
    size_t i = 0;
    while (i < room->nseats && room->seats[i] != s)
        i++;
    if (i == room->nseats)
        return;
    bool was_host = i == 0;
    memmove(&room->seats[i], &room->seats[i + 1], (room->nseats - i - 1) * sizeof *room->seats);
    room->nseats--;
    room->seat_gen++;
    char uid[RELAY_MAX_USER_ID + 1];
    snprintf(uid, sizeof uid, "%s", s->user_id);
    seat_free(s);
    room_broadcast(room,
                   json_pack("{sissss}", "op", OP_PRESENCE_LEAVE, "user_id", uid, "reason", reason),
                   false, NULL, NULL, 0);
    if (was_host && room->nseats)
        room_broadcast(room,
                       json_pack("{sissssss}", "op", OP_HOST_CHANGED, "host_id",
                                 room->seats[0]->user_id, "previous_host_id", uid, "reason",
                                 reason),
                       false, NULL, NULL, 0);
    control_cleanup_seat(room, uid, was_host, now_ms);
    if (room->nseats == 0) {
        room->empty_since_ms = now_ms ? now_ms : 1;
        if (room->hub->hooks.room_save && (room->reg.nobjects || room->reg.nmanifests)) {
            json_t *doc = relay_room_export(room);
            if (doc)
                room->hub->hooks.room_save(room->hub->hooks_ctx, room, doc, RELAY_SAVE_EMPTY, NULL);
        }
    }
}

static struct relay_room *room_new(struct relay_hub *hub, const char *id)
{
    struct relay_room *room = calloc(1, sizeof *room);
    if (!room)
        return NULL;
    room->seats = calloc(hub->cfg.max_players ? hub->cfg.max_players : 1, sizeof *room->seats);
    if (!room->seats) {
        free(room);
        return NULL;
    }
    room->hub = hub;
    snprintf(room->id, sizeof room->id, "%s", id);
    registry_init(&room->reg);
    room->next_join_order = 1;
    room->next_snapshot = 1;
    room->empty_since_ms = hub->now_ms ? hub->now_ms : 1; /* until its first seat */
    if (strmap_put(&hub->rooms, room->id, room) != 0) {
        free(room->seats);
        free(room);
        return NULL;
    }
    room->next = hub->rooms_head;
    if (hub->rooms_head)
        hub->rooms_head->prev = room;
    hub->rooms_head = room;
    hub->nrooms++;
    return room;
}

static void room_free(struct relay_room *room)
{
    struct relay_hub *hub = room->hub;
    if (hub->hooks.room_freed)
        hub->hooks.room_freed(hub->hooks_ctx, room);
    strmap_del(&hub->rooms, room->id);
    if (room->prev)
        room->prev->next = room->next;
    else
        hub->rooms_head = room->next;
    if (room->next)
        room->next->prev = room->prev;
    hub->nrooms--;
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *p = room->seats[i]->conn;
        if (p) { /* only at hub_free: the peer stays valid until the transport leaves */
            p->room = NULL;
            p->seat = NULL;
        }
        seat_free(room->seats[i]);
    }
    free(room->seats);
    snapshot_unref(room->snap_cache);
    registry_clear(&room->reg);
    free(room);
}

struct relay_hub *relay_hub_new(const struct relay_config *cfg, const struct relay_hooks *hooks,
                                void *hooks_ctx)
{
    struct relay_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->cfg = *cfg;
    if (hub->cfg.tick_hz == 0)
        hub->cfg.tick_hz = 20;
    if (hub->cfg.idle_hz == 0 || hub->cfg.idle_hz > hub->cfg.tick_hz)
        hub->cfg.idle_hz = hub->cfg.tick_hz < 4 ? hub->cfg.tick_hz : 4;
    if (hub->cfg.snapshot_frame_bytes == 0 ||
        hub->cfg.snapshot_frame_bytes > RELAY_SNAPSHOT_FRAME_MAX)
        hub->cfg.snapshot_frame_bytes = RELAY_SNAPSHOT_FRAME_MAX;
    if (hub->cfg.snapshot_frame_bytes < 1024)
        hub->cfg.snapshot_frame_bytes = 1024;
    if (hooks)
        hub->hooks = *hooks;
    hub->hooks_ctx = hooks_ctx;
    strmap_init(&hub->rooms);
    msg_pool_init(&hub->pool, hub->cfg.frame_headroom);
    hub->tick = 1;
    hub->session_salt =
        (uint64_t)clock_mono_ns() ^ ((uint64_t)(uintptr_t)hub << 16) ^ (uint64_t)clock_wall_ms();
    return hub;
}

void relay_hub_free(struct relay_hub *hub)
{
    if (!hub)
        return;
    while (hub->rooms_head)
        room_free(hub->rooms_head);
    while (hub->peers_head)
        peer_free(hub->peers_head);
    strmap_clear(&hub->rooms);
    free(hub->scratch);
    free(hub->cand);
    msg_pool_clear(&hub->pool);
    free(hub);
}

static void refuse(struct relay_peer *p, const char *code, const char *message, int close_code)
{
    peer_send_json(
        p, json_pack("{sisssssn}", "op", OP_ERROR, "code", code, "message", message, "cause_op"));
    peer_request_close(p, close_code, code);
}

/* Copies a display name, cut at RELAY_MAX_USERNAME bytes on a UTF-8 boundary. */
static void copy_username(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    if (n == size - 1)
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

enum relay_join_result relay_hub_join(struct relay_hub *hub, const char *room_id,
                                      const char *user_id, const char *username, void *peer_ctx,
                                      int64_t now_ms, struct relay_peer **out)
{
    hub->now_ms = now_ms;
    struct relay_peer *p = peer_new(hub, user_id, peer_ctx, now_ms);
    *out = p;
    if (!p)
        return RELAY_JOIN_NOMEM;
    size_t uid_len = user_id ? strlen(user_id) : 0;
    if (!room_id || !roomdoc_room_id_valid(room_id, strlen(room_id)) || uid_len == 0 ||
        uid_len > RELAY_MAX_USER_ID) {
        refuse(p, "bad_room", "the room id or user id breaks the rule", RELAY_CLOSE_BAD_ROOM);
        return RELAY_JOIN_BAD_ROOM;
    }
    struct relay_room *room = relay_hub_find_room(hub, room_id);
    bool created = false;
    if (!room) {
        if (!(room = room_new(hub, room_id))) {
            peer_free(p);
            *out = NULL;
            return RELAY_JOIN_NOMEM;
        }
        created = true;
    }
    struct seat *s = room_seat(room, user_id);
    bool resumed = s != NULL;
    if (s && s->conn) { /* the newer connection replaces the older one */
        struct relay_peer *old = s->conn;
        old->room = NULL;
        old->seat = NULL;
        hub->npeers--;
        peer_request_close(old, RELAY_CLOSE_REPLACED, "replaced");
        s->conn = NULL;
    }
    if (!s) {
        if (room->nseats >= hub->cfg.max_players) {
            refuse(p, "room_full", "the room is full", RELAY_CLOSE_ROOM_FULL);
            return RELAY_JOIN_ROOM_FULL;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
            peer_free(p);
            *out = NULL;
            return RELAY_JOIN_NOMEM;
        }
        snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
        copy_username(s->username, sizeof s->username, username ? username : "");
        s->join_order = room->next_join_order++;
        room->seats[room->nseats++] = s;
        room->seat_gen++;
    } else {
        /* a new connection is a new sender: its streams restart */
        s->tf_seen = false;
        for (struct reg_object *o = room->reg.ohead; o; o = o->next) {
            if (strcmp(o->obj_from, user_id) == 0)
                o->obj_from[0] = '\0';
            if (strcmp(o->prop_from, user_id) == 0)
                o->prop_from[0] = '\0';
        }
    }
    s->conn = p;
    s->grace_deadline_ms = 0;
    /* live object-plane messages follow a snapshot; with nothing to snapshot, at once */
    p->synced = room->reg.nobjects == 0 && room->reg.nmanifests == 0;
    p->room = room;
    p->seat = s;
    hub->npeers++;
    room->empty_since_ms = 0;
    if (created && hub->hooks.room_created && hub->hooks.room_created(hub->hooks_ctx, room)) {
        room->loading = true;
        room->loading_since_ms = now_ms;
    }
    if (room->loading) {
        p->welcome_pending = true;
        p->welcome_resumed = resumed;
    } else {
        send_welcome(p, resumed);
    }
    if (!resumed)
        room_broadcast(room,
                       json_pack("{sisssssI}", "op", OP_PRESENCE_JOIN, "user_id", s->user_id,
                                 "username", s->username, "join_order", (json_int_t)s->join_order),
                       false, p, NULL, 0);
    return resumed ? RELAY_JOIN_RESUMED : RELAY_JOIN_OK;
}

void relay_peer_leave(struct relay_peer *p, enum relay_leave_how how, int64_t now_ms)
{
    if (!p)
        return;
    struct relay_hub *hub = p->hub;
    hub->now_ms = now_ms;
    struct relay_room *room = p->room;
    struct seat *s = p->seat;
    if (room && s) {
        if (p->close_requested)
            how = p->close_code == RELAY_CLOSE_BAD_INPUT ? RELAY_LEAVE_CLEAN : RELAY_LEAVE_DROPPED;
        hub->npeers--;
        s->conn = NULL;
        p->room = NULL;
        if (how == RELAY_LEAVE_CLEAN) {
            room_remove_seat(room, s, p->close_code == RELAY_CLOSE_BAD_INPUT ? "kicked" : "left",
                             now_ms);
        } else {
            s->grace_deadline_ms = now_ms + hub->cfg.grace_ms;
            s->tf_tick = 0;
        }
    }
    peer_free(p);
}

/* ---- tick ---- */
void room_loading_done(struct relay_room *room)
{
    if (!room->loading)
        return;
    room->loading = false;
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *p = room->seats[i]->conn;
        if (!p || !p->welcome_pending)
            continue;
        p->welcome_pending = false;
        p->synced = room->reg.nobjects == 0 && room->reg.nmanifests == 0;
        send_welcome(p, p->welcome_resumed);
    }
}

void relay_hub_tick(struct relay_hub *hub, int64_t now_ms)
{
    hub->now_ms = now_ms;
    struct relay_room *room = hub->rooms_head;
    while (room) {
        struct relay_room *next = room->next;
        for (size_t i = 0; i < room->nseats;) {
            struct seat *s = room->seats[i];
            if (!s->conn && s->grace_deadline_ms && now_ms >= s->grace_deadline_ms) {
                room_remove_seat(room, s, "timeout", now_ms);
                continue; /* seats shifted */
            }
            if (s->conn)
                control_snapshot_expire(s->conn, now_ms);
            i++;
        }
        if (room->loading && now_ms - room->loading_since_ms >= RELAY_LOAD_TIMEOUT_MS &&
            hub->cfg.load_timeout_refuses) {
            log_warn("relay: room %s: state not loaded within %d ms; closing its players", room->id,
                     RELAY_LOAD_TIMEOUT_MS);
            relay_room_evict(room, RELAY_CLOSE_UNAVAIL, "room_unavailable");
            room = next;
            continue;
        }
        if (room->loading && now_ms - room->loading_since_ms >= RELAY_LOAD_TIMEOUT_MS) {
            log_warn("relay: room %s: saved state not loaded within %d ms; starting empty",
                     room->id, RELAY_LOAD_TIMEOUT_MS);
            room_loading_done(room);
        }
        flush_tick_room(room, now_ms);
        repl_tick_room(room, now_ms);
        if (room->nseats == 0 && room->empty_since_ms &&
            now_ms - room->empty_since_ms >= hub->cfg.empty_ttl_ms)
            room_free(room);
        room = next;
    }
    hub->flush_wanted = false; /* every pending transform went out */
    hub->tick++;
}

void relay_room_evict(struct relay_room *room, int code, const char *reason)
{
    struct relay_hub *hub = room->hub;
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *p = room->seats[i]->conn;
        if (!p)
            continue;
        p->room = NULL;
        p->seat = NULL;
        room->seats[i]->conn = NULL;
        hub->npeers--;
        peer_request_close(p, code, reason);
    }
    room_free(room);
}

void relay_room_freeze(struct relay_room *room)
{
    room->frozen = true;
}

bool relay_room_loading(const struct relay_room *room)
{
    return room->loading;
}

uint64_t relay_room_changes(const struct relay_room *room)
{
    return room->rev + room->seat_gen;
}

void relay_room_shutdown(struct relay_room *room)
{
    for (size_t i = 0; i < room->nseats; i++)
        if (room->seats[i]->conn)
            peer_request_close(room->seats[i]->conn, RELAY_CLOSE_GOING_AWAY, "shutdown");
}

void relay_hub_shutdown(struct relay_hub *hub)
{
    for (struct relay_room *room = hub->rooms_head; room; room = room->next)
        relay_room_shutdown(room);
}

const char *relay_room_id(const struct relay_room *room)
{
    return room->id;
}

struct relay_room *relay_hub_find_room(struct relay_hub *hub, const char *room_id)
{
    return room_id ? strmap_get(&hub->rooms, room_id) : NULL;
}

size_t relay_hub_room_count(const struct relay_hub *hub)
{
    return hub->nrooms;
}

size_t relay_hub_peer_count(const struct relay_hub *hub)
{
    return hub->npeers;
}

const struct relay_counters *relay_room_counters(const struct relay_room *room)
{
    return &room->counters;
}

const struct relay_counters *relay_hub_counters(const struct relay_hub *hub)
{
    return &hub->counters;
}

size_t relay_room_peer_count(const struct relay_room *room)
{
    size_t n = 0;
    for (size_t i = 0; i < room->nseats; i++)
        n += room->seats[i]->conn != NULL;
    return n;
}

size_t relay_room_seat_count(const struct relay_room *room)
{
    return room->nseats;
}

void relay_hub_foreach_room(struct relay_hub *hub, void (*fn)(struct relay_room *, void *),
                            void *ud)
{
    for (struct relay_room *room = hub->rooms_head; room; room = room->next)
        fn(room, ud);
}

void relay_room_foreach_peer(struct relay_room *room, void (*fn)(struct relay_peer *, void *),
                             void *ud)
{
    for (size_t i = 0; i < room->nseats; i++)
        if (room->seats[i]->conn)
            fn(room->seats[i]->conn, ud);
}

void relay_room_fanout_add(struct relay_room *room, size_t bucket, double seconds)
{
    if (bucket < RELAY_FANOUT_BUCKETS)
        room->fanout.buckets[bucket]++;
    room->fanout.count++;
    room->fanout.sum_s += seconds;
}

const struct relay_fanout_hist *relay_room_fanout(const struct relay_room *room)
{
    return &room->fanout;
}
