/* checkpoint.c — a room's whole live state as a checkpoint document and back (room.h,
 * "fleet").  Unlike a save (registry_export: what a room document keeps), a checkpoint keeps
 * everything a late joiner's snapshot shows and everything the rules decide with: every
 * object of every persist mode, raw owner (empty = whoever is host), holder, placed, epoch,
 * seq watermarks, the presences in join order and the next join order.
 *
 * Format (version 1):
 *   {"format": "roomstate-checkpoint/1", "room_id": id, "rev": N, "next_join_order": N,
 *    "host_id": id|null,
 *    "presences": [{"user_id", "username", "join_order"}],   (join order; host first)
 *    "manifests": {id: {"properties": {...}}},
 *    "objects": [{object_id, manifest_id, persist_mode, owner_id, held_by, placed, seq,
 *                 transform, properties, epoch, "owner": raw owner|null, "obj_seq", "prop_seq"}]}
 */
#include "relay/room_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define CHECKPOINT_FORMAT "roomstate-checkpoint/1"

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *presences(const struct relay_room *room)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < room->nseats; i++) {
        const struct seat *s = room->seats[i];
        if (json_array_append_new(a, json_pack("{sssssI}", "user_id", s->user_id, "username",
                                               s->username, "join_order",
                                               (json_int_t)s->join_order)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *object_entry(const struct reg_object *o, const char *host)
{
    json_t *j = registry_object_json(o, host, true);
    if (!j)
        return NULL;
    if (json_object_set_new(j, "owner", str_or_null(o->owner)) != 0 ||
        json_object_set_new(j, "obj_seq", json_integer((json_int_t)o->obj_seq)) != 0 ||
        json_object_set_new(j, "prop_seq", json_integer((json_int_t)o->prop_seq)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *relay_room_checkpoint(const struct relay_room *room)
{
    const char *host = room_host_id(room);
    json_t *doc = json_pack("{sssssIsIsososo}", "format", CHECKPOINT_FORMAT, "room_id", room->id,
                            "rev", (json_int_t)room->rev, "next_join_order",
                            (json_int_t)room->next_join_order, "host_id", str_or_null(host),
                            "presences", presences(room), "manifests", json_object());
    json_t *objects = json_array();
    if (!doc || !objects || json_object_set_new(doc, "objects", objects) != 0) {
        json_decref(doc);
        return NULL;
    }
    json_t *ms = json_object_get(doc, "manifests");
    for (const struct reg_manifest *m = room->reg.mhead; m; m = m->next)
        if (json_object_set_new(ms, m->id, json_pack("{sO}", "properties", m->properties)) != 0)
            goto fail;
    for (const struct reg_object *o = room->reg.ohead; o; o = o->next)
        if (json_array_append_new(objects, object_entry(o, host)) != 0)
            goto fail;
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* ---- restore ---- */

static bool uint_field(const json_t *o, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* A user id field: NULL/null -> "", else 1..RELAY_MAX_USER_ID bytes.  false: malformed. */
static bool user_field(const json_t *o, const char *name, char *dst, size_t size)
{
    json_t *v = json_object_get(o, name);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size)
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static void restore_manifests(struct relay_room *room, const json_t *manifests)
{
    const char *mid;
    json_t *m;
    json_object_foreach((json_t *)manifests, mid, m)
    {
        struct reg_err err = {.code = "bad_field", .message = "bad manifest id"};
        json_t *props = NULL;
        if (strlen(mid) == 0 || strlen(mid) > RELAY_MAX_OBJECT_ID ||
            !(props = registry_manifest_parse(json_object_get(m, "properties"),
                                              room->hub->cfg.max_properties, &err)) ||
            !registry_manifest_put(&room->reg, mid, props))
            log_warn("relay: room %s: checkpoint manifest skipped: %s", room->id, err.message);
    }
}

static void restore_objects(struct relay_room *room, const json_t *objects)
{
    size_t i;
    json_t *src;
    size_t max_bytes = room->hub->cfg.snapshot_frame_bytes - SNAPSHOT_ENVELOPE_BYTES;
    json_array_foreach((json_t *)objects, i, src)
    {
        char owner[RELAY_MAX_USER_ID + 1], held[RELAY_MAX_USER_ID + 1];
        uint64_t epoch, obj_seq, prop_seq;
        json_t *placed = json_object_get(src, "placed");
        struct reg_err err;
        if (!user_field(src, "owner", owner, sizeof owner) ||
            !user_field(src, "held_by", held, sizeof held) || !uint_field(src, "epoch", &epoch) ||
            !uint_field(src, "obj_seq", &obj_seq) || !uint_field(src, "prop_seq", &prop_seq) ||
            (placed && !json_is_boolean(placed))) {
            log_warn("relay: room %s: checkpoint object %zu skipped: bad live fields", room->id, i);
            continue;
        }
        struct reg_object *o = registry_object_from_json(&room->reg, src, max_bytes, &err);
        if (!o) {
            log_warn("relay: room %s: checkpoint object %zu skipped: %s", room->id, i, err.message);
            continue;
        }
        memcpy(o->owner, owner, sizeof owner);
        memcpy(o->held_by, held, sizeof held);
        if (placed)
            o->placed = json_is_true(placed);
        o->epoch = epoch;
        o->obj_seq = obj_seq;
        o->prop_seq = prop_seq;
    }
}

/* The checkpoint's presences first (in their order, with their join orders; those not
 * connected now wait in the grace), then whoever joined while the room loaded, after them. */
static int restore_seats(struct relay_room *room, const json_t *pres, uint64_t next_join_order,
                         int64_t now_ms)
{
    struct relay_hub *hub = room->hub;
    size_t cap = hub->cfg.max_players ? hub->cfg.max_players : 1, n = 0, nlive = room->nseats;
    struct seat **live = calloc(nlive + 1, sizeof *live);
    struct seat **out = calloc(cap, sizeof *out);
    if (!live || !out) {
        free(live);
        free(out);
        return -1;
    }
    memcpy(live, room->seats, nlive * sizeof *live);
    size_t i;
    json_t *pr;
    size_t unmatched = nlive; /* live seats not in the checkpoint keep a place */
    json_array_foreach((json_t *)pres, i, pr)
    {
        const char *uid = json_string_value(json_object_get(pr, "user_id"));
        for (size_t k = 0; uid && k < nlive; k++)
            if (live[k] && strcmp(live[k]->user_id, uid) == 0)
                unmatched--;
    }
    uint64_t max_jo = 0;
    json_array_foreach((json_t *)pres, i, pr)
    {
        const char *uid = json_string_value(json_object_get(pr, "user_id"));
        const char *uname = json_string_value(json_object_get(pr, "username"));
        json_t *jo = json_object_get(pr, "join_order");
        if (!uid || !*uid || strlen(uid) > RELAY_MAX_USER_ID || !json_is_integer(jo) ||
            json_integer_value(jo) < 1 || (uname && strlen(uname) > RELAY_MAX_USERNAME))
            continue;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || strcmp(out[k]->user_id, uid) == 0;
        if (dup)
            continue;
        struct seat *s = NULL;
        for (size_t k = 0; k < nlive && !s; k++)
            if (live[k] && strcmp(live[k]->user_id, uid) == 0) {
                s = live[k];
                live[k] = NULL;
                if (s->conn) /* its seat is back: the WELCOME says resumed */
                    s->conn->welcome_resumed = true;
            }
        if (!s) {
            if (n + unmatched >= cap)
                continue; /* capacity lowered since: the latest restored seats give way */
            if (!(s = calloc(1, sizeof *s)))
                continue;
            snprintf(s->user_id, sizeof s->user_id, "%s", uid);
            snprintf(s->username, sizeof s->username, "%s", uname ? uname : "");
            s->grace_deadline_ms = now_ms + hub->cfg.grace_ms;
        }
        s->join_order = (uint64_t)json_integer_value(jo);
        if (s->join_order > max_jo)
            max_jo = s->join_order;
        out[n++] = s;
    }
    uint64_t next = next_join_order > max_jo ? next_join_order : max_jo + 1;
    for (size_t k = 0; k < nlive; k++)
        if (live[k] && n < cap) {
            live[k]->join_order = next++;
            out[n++] = live[k];
        }
    memcpy(room->seats, out, n * sizeof *out);
    room->nseats = n;
    room->next_join_order = next;
    room->seat_gen++;
    free(live);
    free(out);
    return 0;
}

int relay_room_restore_checkpoint(struct relay_room *room, const json_t *ckpt,
                                  long long saved_version, int64_t now_ms)
{
    json_t *manifests = json_object_get(ckpt, "manifests");
    json_t *objects = json_object_get(ckpt, "objects");
    json_t *pres = json_object_get(ckpt, "presences");
    const char *format = json_string_value(json_object_get(ckpt, "format"));
    uint64_t rev, next_jo;
    if (!room->loading || !json_is_object(ckpt) || !format || strcmp(format, CHECKPOINT_FORMAT) ||
        !json_is_object(manifests) || !json_is_array(objects) || !json_is_array(pres) ||
        !uint_field(ckpt, "rev", &rev) || !uint_field(ckpt, "next_join_order", &next_jo))
        return -1;
    room->hub->now_ms = now_ms;
    if (restore_seats(room, pres, next_jo, now_ms) != 0)
        return -1;
    restore_manifests(room, manifests);
    restore_objects(room, objects);
    room->rev = (rev > room->rev ? rev : room->rev) + 1;
    room->restored = true;
    room->restored_checkpoint = true;
    room->restored_version = saved_version >= 0 ? saved_version : -1;
    log_info("relay: room %s restored from its checkpoint (%zu objects, %zu seats, host %s)",
             room->id, room->reg.nobjects, room->nseats,
             room->nseats ? room->seats[0]->user_id : "-");
    room_loading_done(room);
    return 0;
}
