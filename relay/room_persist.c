/* room_persist.c — the rules module's persistence hooks (room.h, "persistence"): the
 * registry exported as a roomdoc-shaped save document, restored from a GET
 * /rooms/{id}/state document, and the SAVE_RESULT announcement. */
#include "relay/room_int.h"

#include <string.h>

#include "common/log.h"
#include "opcodes.h"

/* ---- persistence ---- */
json_t *relay_room_export(const struct relay_room *room)
{
    return registry_export(&room->reg, room_host_id(room));
}

int relay_room_restore(struct relay_room *room, const json_t *doc, long long version,
                       int64_t now_ms)
{
    json_t *manifests = json_object_get(doc, "manifests");
    json_t *objects = json_object_get(doc, "objects");
    if (!json_is_object(doc) || !json_is_object(manifests) || !json_is_array(objects))
        return -1;
    struct relay_hub *hub = room->hub;
    hub->now_ms = now_ms;
    const char *mid;
    json_t *m;
    json_object_foreach(manifests, mid, m)
    {
        struct reg_err err = {.code = "bad_field", .message = "bad manifest id"};
        json_t *props = NULL;
        if (strlen(mid) == 0 || strlen(mid) > RELAY_MAX_OBJECT_ID ||
            !(props = registry_manifest_parse(json_object_get(m, "properties"),
                                              hub->cfg.max_properties, &err)) ||
            !registry_manifest_put(&room->reg, mid, props)) {
            log_warn("relay: room %s: restored manifest skipped: %s", room->id, err.message);
            continue;
        }
        room_broadcast(room,
                       json_pack("{sisssOsb}", "op", OP_MANIFEST_REGISTER, "manifest_id", mid,
                                 "properties", registry_manifest(&room->reg, mid)->properties,
                                 "restored", 1),
                       true, NULL, NULL, 0);
    }
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        struct reg_err err;
        json_t *id = json_object_get(o, "object_id");
        struct reg_object *old =
            json_is_string(id) ? registry_object(&room->reg, json_string_value(id)) : NULL;
        if (old)
            registry_object_del(&room->reg, old);
        struct reg_object *obj = registry_object_from_json(
            &room->reg, o, hub->cfg.snapshot_frame_bytes - SNAPSHOT_ENVELOPE_BYTES, &err);
        if (!obj) {
            log_warn("relay: room %s: restored object %zu skipped: %s", room->id, i, err.message);
            continue;
        }
        json_t *spawn = registry_object_json(obj, room_host_id(room), true);
        if (spawn) {
            json_object_set_new(spawn, "op", json_integer(OP_OBJECT_SPAWN));
            json_object_set_new(spawn, "restored", json_true());
            room_broadcast(room, spawn, true, NULL, NULL, 0);
        }
    }
    room->rev++;
    room->restored = true;
    room->restored_version = version;
    log_info("relay: room %s restored from version %lld (%zu objects)", room->id, version,
             room->reg.nobjects);
    room_loading_done(room);
    return 0;
}

void relay_room_restore_failed(struct relay_room *room, const char *why)
{
    log_warn("relay: room %s: saved state not loaded: %s", room->id, why ? why : "unknown");
    room_loading_done(room);
}

void relay_room_restore_none(struct relay_room *room)
{
    room_loading_done(room);
}

void relay_room_save_result(struct relay_room *room, bool ok, long long version,
                            long long objects_saved, const char *error, const char *by_user_id)
{
    json_t *v =
        ok ? json_pack("{sisbsIsIso}", "op", OP_SAVE_RESULT, "ok", 1, "version",
                       (json_int_t)version, "objects_saved", (json_int_t)objects_saved, "by",
                       by_user_id ? json_string(by_user_id) : json_null())
           : json_pack("{sisbssssso}", "op", OP_SAVE_RESULT, "ok", 0, "error",
                       error ? error : "save_failed", "message", error ? error : "the save failed",
                       "by", by_user_id ? json_string(by_user_id) : json_null());
    room_broadcast(room, v, false, NULL, NULL, 0);
}
