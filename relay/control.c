/* control.c — the control plane of a room: ownership (REQUEST / GRANTED / DENIED /
 * RELEASED with the contention rules and epochs), the registry's mutations (OBJECT_SPAWN /
 * DESPAWN / PERSIST, MANIFEST_REGISTER) with their authority checks, late-join snapshots
 * (SNAPSHOT_REQUEST / CHUNK / DONE, chunk re-requests), SAVE_REQUEST, and the cleanup of a
 * leaving seat's objects per persist mode. */
#include "relay/room_int.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "opcodes.h"

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static size_t max_object_bytes(const struct relay_hub *hub)
{
    return hub->cfg.snapshot_frame_bytes - SNAPSHOT_ENVELOPE_BYTES;
}

/* The object named by msg's "object_id", or NULL after the ERROR. */
static struct reg_object *find_object(struct relay_peer *p, json_t *msg, int op)
{
    json_t *id = json_object_get(msg, "object_id");
    if (!registry_id_valid(id)) {
        peer_error(p, "bad_field", "object_id must be a string of 1..128 bytes", op,
                   RELAY_DROP_BAD_FIELD);
        return NULL;
    }
    struct reg_object *o = registry_object(&p->room->reg, json_string_value(id));
    if (!o)
        peer_error(p, "unknown_object", "no such object", op, RELAY_DROP_UNKNOWN_OBJECT);
    return o;
}

static bool is_owner(const struct relay_peer *p, const struct reg_object *o)
{
    const char *owner = registry_owner(o, room_host_id(p->room));
    return owner && strcmp(owner, p->user_id) == 0;
}

/* The object's latest-wins values of this tick window (not fanned out yet) go to every
 * synced peer now, queued as reliable messages ahead of the ownership change that follows:
 * registry_object_reset_slots would drop them, and an accepted high-rate property value
 * (already in the registry) would then never reach the others.  Ownership changes only: no
 * cost on the replication hot path. */
static void flush_latest(struct relay_room *room, struct reg_object *o)
{
    uint64_t t = room->hub->tick;
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *r = room->seats[i]->conn;
        if (!r || !r->synced || r->welcome_pending || r->close_requested)
            continue;
        int rc = 0;
        if (o->rep_msg && o->rep_tick == t && strcmp(o->obj_from, r->user_id) != 0)
            rc |= msgvec_push(&r->pending, o->rep_msg);
        for (struct reg_prop_slot *s = o->slots; s; s = s->next)
            if (s->msg && s->tick == t && strcmp(o->prop_from, r->user_id) != 0)
                rc |= msgvec_push(&r->pending, s->msg);
        if (rc)
            peer_request_close(r, RELAY_CLOSE_INTERNAL, "internal");
    }
}

static void request_ownership(struct relay_peer *p, json_t *msg)
{
    struct relay_room *room = p->room;
    json_t *id = json_object_get(msg, "object_id");
    if (!registry_id_valid(id)) {
        peer_error(p, "bad_field", "object_id must be a string of 1..128 bytes",
                   OP_OWNERSHIP_REQUEST, RELAY_DROP_BAD_FIELD);
        return;
    }
    struct reg_object *o = registry_object(&room->reg, json_string_value(id));
    const char *reason = NULL;
    if (!o)
        reason = "unknown_object";
    else if (o->held_by[0] && strcmp(o->held_by, p->user_id) != 0)
        reason = "held";
    if (reason) {
        json_t *d = json_pack("{sisOsssoso}", "op", OP_OWNERSHIP_DENIED, "object_id", id, "reason",
                              reason, "holder", str_or_null(o ? o->held_by : NULL), "owner_id",
                              str_or_null(o ? registry_owner(o, room_host_id(room)) : NULL));
        struct relay_msg *m =
            d ? relay_msg_from_json(&room->hub->pool, OP_OWNERSHIP_DENIED, d, 0) : NULL;
        json_decref(d);
        if (m)
            peer_send(p, m);
        relay_msg_unref(m);
        return;
    }
    if (o->held_by[0]) { /* already the holder: confirm, epoch unchanged */
        json_t *g =
            json_pack("{sisssssssI}", "op", OP_OWNERSHIP_GRANTED, "object_id", o->id, "owner_id",
                      p->user_id, "held_by", p->user_id, "epoch", (json_int_t)o->epoch);
        struct relay_msg *m =
            g ? relay_msg_from_json(&room->hub->pool, OP_OWNERSHIP_GRANTED, g, 0) : NULL;
        json_decref(g);
        if (m)
            peer_send(p, m);
        relay_msg_unref(m);
        return;
    }
    snprintf(o->owner, sizeof o->owner, "%s", p->user_id);
    snprintf(o->held_by, sizeof o->held_by, "%s", p->user_id);
    o->epoch++;
    flush_latest(room, o);
    registry_object_reset_slots(o);
    room->rev++;
    room_broadcast(room,
                   json_pack("{sisssssssI}", "op", OP_OWNERSHIP_GRANTED, "object_id", o->id,
                             "owner_id", p->user_id, "held_by", p->user_id, "epoch",
                             (json_int_t)o->epoch),
                   true, NULL, p, 0);
}

/* Clears held_by, the host owns it again, epoch raised; RELEASED to the room. */
static void release(struct relay_room *room, struct reg_object *o, const char *by,
                    const char *reason, const struct relay_peer *self)
{
    o->held_by[0] = '\0';
    o->owner[0] = '\0';
    o->epoch++;
    flush_latest(room, o);
    registry_object_reset_slots(o);
    room->rev++;
    room_broadcast(room,
                   json_pack("{sisssssosnsIsssssosb}", "op", OP_OWNERSHIP_RELEASED, "object_id",
                             o->id, "by", by, "owner_id", str_or_null(room_host_id(room)),
                             "held_by", "epoch", (json_int_t)o->epoch, "reason", reason,
                             "persist_mode", roomdoc_persist_name(o->persist), "transform",
                             registry_transform_json(o->pos, o->rot, o->scale), "placed",
                             (int)o->placed),
                   true, NULL, self, 0);
}

static void release_ownership(struct relay_peer *p, json_t *msg)
{
    struct reg_object *o = find_object(p, msg, OP_OWNERSHIP_RELEASED);
    if (!o)
        return;
    if (strcmp(o->held_by, p->user_id) != 0) {
        peer_error(p, "not_holder", "only the holder may release", OP_OWNERSHIP_RELEASED,
                   RELAY_DROP_NOT_OWNER);
        return;
    }
    json_t *tr = json_object_get(msg, "transform");
    json_t *pm = json_object_get(msg, "persist_mode");
    double pos[3], rot[4], scale[3];
    memcpy(scale, o->scale, sizeof scale);
    int persist = pm ? roomdoc_persist_parse(json_string_value(pm)) : (int)o->persist;
    if (tr && registry_parse_transform(tr, pos, rot, scale) != 0) {
        peer_error(p, "bad_field", "transform needs position [3], rotation [4], optional scale [3]",
                   OP_OWNERSHIP_RELEASED, RELAY_DROP_BAD_FIELD);
        return;
    }
    if (persist < 0) {
        peer_error(p, "bad_field",
                   "persist_mode must be transient_held, placed_room or placed_saved",
                   OP_OWNERSHIP_RELEASED, RELAY_DROP_BAD_FIELD);
        return;
    }
    if (tr) {
        memcpy(o->pos, pos, sizeof pos);
        memcpy(o->rot, rot, sizeof rot);
        memcpy(o->scale, scale, sizeof scale);
    }
    o->persist = (enum roomdoc_persist)persist;
    o->placed = persist != ROOMDOC_TRANSIENT_HELD;
    release(p->room, o, p->user_id, "released", p);
}

static void spawn(struct relay_peer *p, json_t *msg)
{
    struct relay_room *room = p->room;
    struct relay_hub *hub = p->hub;
    if (room->reg.nobjects >= hub->cfg.max_objects) {
        peer_error(p, "limit", "the room holds its maximum of objects", OP_OBJECT_SPAWN,
                   RELAY_DROP_BAD_FIELD);
        return;
    }
    json_t *held = json_object_get(msg, "held");
    if (held && !json_is_boolean(held)) {
        peer_error(p, "bad_field", "held must be a boolean", OP_OBJECT_SPAWN, RELAY_DROP_BAD_FIELD);
        return;
    }
    struct reg_err err;
    struct reg_object *o = registry_object_from_json(&room->reg, msg, max_object_bytes(hub), &err);
    if (!o) {
        enum relay_drop d = strcmp(err.code, "undeclared") == 0  ? RELAY_DROP_UNDECLARED
                            : strcmp(err.code, "too_large") == 0 ? RELAY_DROP_TOO_LARGE
                                                                 : RELAY_DROP_BAD_FIELD;
        peer_error(p, err.code, err.message, OP_OBJECT_SPAWN, d);
        return;
    }
    o->seq = 0;
    snprintf(o->owner, sizeof o->owner, "%s", p->user_id);
    if (json_is_true(held))
        snprintf(o->held_by, sizeof o->held_by, "%s", p->user_id);
    room->rev++;
    json_t *v = registry_object_json(o, room_host_id(room), true);
    if (v) {
        json_object_set_new(v, "op", json_integer(OP_OBJECT_SPAWN));
        json_object_set_new(v, "by", json_string(p->user_id));
    }
    room_broadcast(room, v, true, NULL, p, 0);
}

static void despawn(struct relay_room *room, struct reg_object *o, const char *by,
                    const char *reason, const struct relay_peer *self)
{
    json_t *v = json_pack("{sissssss}", "op", OP_OBJECT_DESPAWN, "object_id", o->id, "by", by,
                          "reason", reason);
    registry_object_del(&room->reg, o);
    room->rev++;
    room_broadcast(room, v, true, NULL, self, 0);
}

static void despawn_request(struct relay_peer *p, json_t *msg)
{
    struct reg_object *o = find_object(p, msg, OP_OBJECT_DESPAWN);
    if (!o)
        return;
    if (!is_owner(p, o)) {
        peer_error(p, "not_owner", "only the owner may despawn", OP_OBJECT_DESPAWN,
                   RELAY_DROP_NOT_OWNER);
        return;
    }
    despawn(p->room, o, p->user_id, "despawned", p);
}

static void persist_request(struct relay_peer *p, json_t *msg)
{
    struct reg_object *o = find_object(p, msg, OP_OBJECT_PERSIST);
    if (!o)
        return;
    if (!is_owner(p, o)) {
        peer_error(p, "not_owner", "only the owner may change the persist mode", OP_OBJECT_PERSIST,
                   RELAY_DROP_NOT_OWNER);
        return;
    }
    int persist = roomdoc_persist_parse(json_string_value(json_object_get(msg, "persist_mode")));
    if (persist < 0) {
        peer_error(p, "bad_field",
                   "persist_mode must be transient_held, placed_room or placed_saved",
                   OP_OBJECT_PERSIST, RELAY_DROP_BAD_FIELD);
        return;
    }
    o->persist = (enum roomdoc_persist)persist;
    o->placed = persist != ROOMDOC_TRANSIENT_HELD;
    p->room->rev++;
    room_broadcast(p->room,
                   json_pack("{sisssssbss}", "op", OP_OBJECT_PERSIST, "object_id", o->id,
                             "persist_mode", roomdoc_persist_name(o->persist), "placed",
                             (int)o->placed, "by", p->user_id),
                   true, NULL, p, 0);
}

static json_t *manifest_msg(const struct reg_manifest *m, const char *by)
{
    return json_pack("{sisssOss}", "op", OP_MANIFEST_REGISTER, "manifest_id", m->id, "properties",
                     m->properties, "by", by);
}

static void manifest_register(struct relay_peer *p, json_t *msg)
{
    struct relay_room *room = p->room;
    json_t *id = json_object_get(msg, "manifest_id");
    if (!registry_id_valid(id)) {
        peer_error(p, "bad_field", "manifest_id must be a string of 1..128 bytes",
                   OP_MANIFEST_REGISTER, RELAY_DROP_BAD_FIELD);
        return;
    }
    struct reg_err err;
    json_t *props = registry_manifest_parse(json_object_get(msg, "properties"),
                                            p->hub->cfg.max_properties, &err);
    if (!props) {
        peer_error(p, err.code, err.message, OP_MANIFEST_REGISTER, RELAY_DROP_BAD_FIELD);
        return;
    }
    struct reg_manifest *m = registry_manifest(&room->reg, json_string_value(id));
    if (m) { /* manifests are immutable: the same one again is confirmed to its sender */
        bool same = json_equal(m->properties, props);
        json_decref(props);
        if (!same) {
            peer_error(p, "conflict", "a different manifest with this id is registered",
                       OP_MANIFEST_REGISTER, RELAY_DROP_BAD_FIELD);
            return;
        }
        json_t *v = manifest_msg(m, p->user_id);
        struct relay_msg *e =
            v ? relay_msg_from_json(&p->hub->pool, OP_MANIFEST_REGISTER, v, 0) : NULL;
        json_decref(v);
        if (e)
            peer_send(p, e);
        relay_msg_unref(e);
        return;
    }
    if (room->reg.nmanifests >= p->hub->cfg.max_manifests) {
        json_decref(props);
        peer_error(p, "limit", "the room holds its maximum of manifests", OP_MANIFEST_REGISTER,
                   RELAY_DROP_BAD_FIELD);
        return;
    }
    json_t *probe = json_pack("{sO}", "properties", props);
    size_t size = probe ? json_dumpb(probe, NULL, 0, JSON_COMPACT) + json_string_length(id) : 0;
    json_decref(probe);
    if (size == 0 || size + 8 > max_object_bytes(p->hub)) {
        json_decref(props);
        peer_error(p, "too_large", "manifest too large for a snapshot chunk", OP_MANIFEST_REGISTER,
                   RELAY_DROP_TOO_LARGE);
        return;
    }
    if (!(m = registry_manifest_put(&room->reg, json_string_value(id), props))) {
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
        return;
    }
    room->rev++;
    room_broadcast(room, manifest_msg(m, p->user_id), true, NULL, p, 0);
}

static void send_snapshot_parts(struct relay_peer *p, const json_t *chunks)
{
    struct relay_snapshot *s = p->snap;
    if (!chunks) {
        for (size_t i = 0; i < s->nchunks; i++)
            peer_send(p, s->chunks[i]);
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(chunks, i, c) peer_send(p, s->chunks[json_integer_value(c)]);
    }
    peer_send(p, s->done);
}

static void snapshot_request(struct relay_peer *p, json_t *msg, int64_t now_ms)
{
    struct relay_room *room = p->room;
    json_t *sid = json_object_get(msg, "snapshot");
    json_t *chunks = json_object_get(msg, "chunks");
    if (sid && !json_is_null(sid)) { /* re-request of chunks of a snapshot sent before */
        if (!json_is_integer(sid)) {
            peer_error(p, "bad_field", "snapshot must be an integer", OP_SNAPSHOT_REQUEST,
                       RELAY_DROP_BAD_FIELD);
            return;
        }
        if (!p->snap || p->snap->id != (uint64_t)json_integer_value(sid)) {
            peer_error(p, "unknown_snapshot", "that snapshot is no longer kept: request a new one",
                       OP_SNAPSHOT_REQUEST, RELAY_DROP_STALE);
            return;
        }
        if (chunks && !json_is_null(chunks)) {
            size_t i;
            json_t *c;
            bool ok = json_is_array(chunks) && json_array_size(chunks) <= p->snap->nchunks;
            if (ok)
                json_array_foreach(chunks, i, c)
                {
                    if (!json_is_integer(c) || json_integer_value(c) < 0 ||
                        (uint64_t)json_integer_value(c) >= p->snap->nchunks)
                        ok = false;
                }
            if (!ok) {
                peer_error(p, "bad_field", "chunks must be a list of chunk indexes of the snapshot",
                           OP_SNAPSHOT_REQUEST, RELAY_DROP_BAD_FIELD);
                return;
            }
        } else {
            chunks = NULL;
        }
        p->snap_expiry_ms = now_ms + p->hub->cfg.snapshot_retain_ms;
        send_snapshot_parts(p, chunks);
        return;
    }
    struct relay_snapshot *s = room->snap_cache;
    if (!s || s->watermark != room->rev) {
        s = snapshot_build(&room->reg, room_host_id(room), room->next_snapshot++, room->rev,
                           p->hub->cfg.snapshot_frame_bytes, &p->hub->pool);
        if (!s) {
            log_error("relay: room %s: snapshot could not be built", room->id);
            peer_error(p, "internal", "the snapshot could not be built", OP_SNAPSHOT_REQUEST,
                       RELAY_DROP_BAD_FIELD);
            return;
        }
        snapshot_unref(room->snap_cache);
        room->snap_cache = s;
    }
    snapshot_unref(p->snap);
    p->snap = snapshot_ref(s);
    p->snap_expiry_ms = now_ms + p->hub->cfg.snapshot_retain_ms;
    send_snapshot_parts(p, NULL);
    p->synced = true; /* live object-plane messages follow the snapshot */
}

void control_snapshot_expire(struct relay_peer *p, int64_t now_ms)
{
    if (p->snap && now_ms >= p->snap_expiry_ms) {
        snapshot_unref(p->snap);
        p->snap = NULL;
    }
}

static void save_request(struct relay_peer *p)
{
    struct relay_room *room = p->room;
    const char *host = room_host_id(room);
    if (!host || strcmp(host, p->user_id) != 0) {
        peer_error(p, "not_host", "only the host may save the room", OP_SAVE_REQUEST,
                   RELAY_DROP_NOT_HOST);
        return;
    }
    if (!p->hub->hooks.room_save) {
        json_t *v =
            json_pack("{sisbssss+}", "op", OP_SAVE_RESULT, "ok", 0, "error", "persistence_disabled",
                      "message", "this relay has no ", "room-state server configured");
        if (v)
            json_object_set_new(v, "by", json_string(p->user_id));
        struct relay_msg *m = v ? relay_msg_from_json(&p->hub->pool, OP_SAVE_RESULT, v, 0) : NULL;
        json_decref(v);
        if (m)
            peer_send(p, m);
        relay_msg_unref(m);
        return;
    }
    json_t *doc = relay_room_export(room);
    if (!doc) {
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
        return;
    }
    p->hub->hooks.room_save(p->hub->hooks_ctx, room, doc, RELAY_SAVE_REQUEST, p->user_id);
}

void control_handle(struct relay_peer *p, int op, json_t *msg, int64_t now_ms)
{
    switch (op) {
    case OP_OWNERSHIP_REQUEST:
        request_ownership(p, msg);
        break;
    case OP_OWNERSHIP_RELEASED:
        release_ownership(p, msg);
        break;
    case OP_OBJECT_SPAWN:
        spawn(p, msg);
        break;
    case OP_OBJECT_DESPAWN:
        despawn_request(p, msg);
        break;
    case OP_OBJECT_PERSIST:
        persist_request(p, msg);
        break;
    case OP_MANIFEST_REGISTER:
        manifest_register(p, msg);
        break;
    case OP_SNAPSHOT_REQUEST:
        snapshot_request(p, msg, now_ms);
        break;
    case OP_SAVE_REQUEST:
        save_request(p);
        break;
    default:
        break;
    }
}

void control_cleanup_seat(struct relay_room *room, const char *user_id, bool old_host,
                          int64_t now_ms)
{
    (void)now_ms;
    struct reg_object *o = room->reg.ohead;
    while (o) {
        struct reg_object *next = o->next;
        bool held = strcmp(o->held_by, user_id) == 0;
        bool owned = o->owner[0] ? strcmp(o->owner, user_id) == 0 : old_host;
        if (!held && !owned) {
            o = next;
            continue;
        }
        if (strcmp(o->obj_from, user_id) == 0)
            o->obj_from[0] = '\0';
        if (strcmp(o->prop_from, user_id) == 0)
            o->prop_from[0] = '\0';
        if (old_host && !held) {
            o->owner[0] = '\0'; /* what the old host owned, the new host owns */
        } else if (o->persist == ROOMDOC_TRANSIENT_HELD) {
            despawn(room, o, user_id, "owner_left", NULL);
        } else {
            release(room, o, user_id, "owner_left", NULL);
        }
        o = next;
    }
}
