/* repl.c — the replication plane: REP_TRANSFORM / REP_OBJECT / REP_PROPERTY with their
 * checks (authority, epoch, per-sender stale drop, manifest), and the tick fan-out:
 * latest-wins coalescing, one batched frame per recipient per tick, rate tiers, idle and
 * far objects downshifted to cfg.idle_hz, backlogged peers skipped for unreliable data.
 * Each message is encoded once on receipt; batches join the encoded bytes. */
#include "relay/room_int.h"

#include "common/grow.h"

#include "relay/jspan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"

/* ---- input checks ---- */
static bool vec_ok(const json_t *v, size_t n)
{
    if (!json_is_array(v) || json_array_size(v) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return false;
    }
    return true;
}

/* {"p":[x,y,z],"r":[x,y,z,w]} */
static bool pose_ok(const json_t *v)
{
    return json_is_object(v) && vec_ok(json_object_get(v, "p"), 3) &&
           vec_ok(json_object_get(v, "r"), 4);
}

/* "seq" (required, integer >= 0) and "t" (optional number) of msg. */
static bool seq_ok(struct relay_peer *p, json_t *msg, int op, uint64_t *seq)
{
    json_t *s = json_object_get(msg, "seq");
    json_t *t = json_object_get(msg, "t");
    if (!json_is_integer(s) || json_integer_value(s) < 0) {
        peer_error(p, "bad_field", "seq must be a non-negative integer", op, RELAY_DROP_BAD_FIELD);
        return false;
    }
    if (t && !json_is_number(t)) {
        peer_error(p, "bad_field", "t must be a number", op, RELAY_DROP_BAD_FIELD);
        return false;
    }
    *seq = (uint64_t)json_integer_value(s);
    return true;
}

static struct relay_msg *encode(struct relay_peer *p, int op, json_t *v, int64_t now_ms)
{
    struct relay_msg *m = v ? relay_msg_from_json(&p->hub->pool, op, v, now_ms) : NULL;
    json_decref(v);
    if (!m)
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
    return m;
}

/* Sets key of out to msg's value when present (shared reference). */
static void copy_field(json_t *out, json_t *msg, const char *key)
{
    json_t *v = json_object_get(msg, key);
    if (v)
        json_object_set(out, key, v);
}

/* A field the contract lists, and for an object value the keys listed inside it (NULL: the
 * value goes out as sent, whatever it holds). */
struct relayed_field {
    const char *key;
    const char *const *inner;
};

#define RAW_MAX_MEMBERS 32

static const struct relayed_field *field_of(const struct relayed_field *fields,
                                            const struct jmember *m)
{
    for (; fields->key; fields++)
        if (jspan_key_is(m, fields->key))
            return fields;
    return NULL;
}

/* Appends the listed members of the object value v (its text as sent when every member is
 * listed).  Returns the new length, or 0 when v cannot be scanned. */
static size_t put_inner(char *buf, size_t len, struct jspan v, const char *const *inner)
{
    struct jmember mem[RAW_MAX_MEMBERS];
    int n = jspan_object(v.p, v.n, mem, RAW_MAX_MEMBERS);
    if (n < 0 || n > RAW_MAX_MEMBERS)
        return 0;
    bool all = true;
    for (int i = 0; i < n; i++) {
        const char *const *w = inner;
        while (*w && !jspan_key_is(&mem[i], *w))
            w++;
        if (mem[i].key_escaped)
            return 0;
        all = all && *w;
    }
    if (all) {
        memcpy(buf + len, v.p, v.n);
        return len + v.n;
    }
    buf[len++] = '{';
    size_t open = len;
    for (int i = 0; i < n; i++) {
        const char *const *w = inner;
        while (*w && !jspan_key_is(&mem[i], *w))
            w++;
        if (!*w)
            continue;
        if (len > open)
            buf[len++] = ',';
        buf[len++] = '"';
        memcpy(buf + len, mem[i].key.p, mem[i].key.n);
        len += mem[i].key.n;
        buf[len++] = '"';
        buf[len++] = ':';
        memcpy(buf + len, mem[i].value.p, mem[i].value.n);
        len += mem[i].value.n;
    }
    buf[len++] = '}';
    return len;
}

/* The relayed form of the message p->raw (a single frame's text, or one element of an
 * array frame) without re-encoding: {"op":N,"from":"<id>", then each listed field with the
 * sender's key and value bytes, in the sender's order, whatever that order, the whitespace
 * between them or the frame form.  Unlisted fields are left out (inside listed object values
 * too).  NULL when there is no raw text, a key is escaped (the caller re-encodes), or out
 * of memory. */
static struct relay_msg *raw_relay(struct relay_peer *p, int op, const struct relayed_field *fields,
                                   int64_t now_ms)
{
    struct jmember mem[RAW_MAX_MEMBERS];
    if (!p->raw || !p->from_field_len)
        return NULL;
    int n = jspan_object(p->raw, p->raw_len, mem, RAW_MAX_MEMBERS);
    if (n < 0 || n > RAW_MAX_MEMBERS)
        return NULL;
    /* every member costs at most its own text plus a comma */
    size_t cap = 16 + p->from_field_len + p->raw_len + (size_t)n + 2;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t len = (size_t)snprintf(buf, cap, "{\"op\":%d,", op);
    memcpy(buf + len, p->from_field, p->from_field_len); /* "from":"...", */
    len += p->from_field_len;
    struct relay_msg *m = NULL;
    for (int i = 0; i < n; i++) {
        if (mem[i].key_escaped)
            goto out;
        const struct relayed_field *f = field_of(fields, &mem[i]);
        if (!f)
            continue; /* op itself, or a field the contract does not list */
        buf[len++] = '"';
        memcpy(buf + len, mem[i].key.p, mem[i].key.n);
        len += mem[i].key.n;
        buf[len++] = '"';
        buf[len++] = ':';
        if (f->inner && mem[i].value.n && mem[i].value.p[0] == '{') {
            len = put_inner(buf, len, mem[i].value, f->inner);
            if (!len)
                goto out;
        } else {
            memcpy(buf + len, mem[i].value.p, mem[i].value.n);
            len += mem[i].value.n;
        }
        buf[len++] = ',';
    }
    buf[len - 1] = '}'; /* the comma after the last field (or after "from") */
    m = relay_msg_new(&p->hub->pool, op, buf, len, now_ms);
out:
    free(buf);
    return m;
}

static const char *const pose_keys[] = {"p", "r", NULL};
static const char *const transform_keys[] = {"position", "rotation", "scale", NULL};
static const struct relayed_field transform_fields[] = {
    {"seq", NULL},       {"t", NULL},          {"head", pose_keys},
    {"left", pose_keys}, {"right", pose_keys}, {NULL, NULL},
};
static const struct relayed_field object_fields[] = {
    {"object_id", NULL},           {"seq", NULL}, {"epoch", NULL}, {"t", NULL},
    {"transform", transform_keys}, {NULL, NULL},
};
static const struct relayed_field property_fields[] = {
    {"object_id", NULL}, {"seq", NULL},   {"epoch", NULL}, {"t", NULL},
    {"name", NULL},      {"value", NULL}, {NULL, NULL},
};

struct relay_msg *repl_raw_forward(struct relay_peer *p, int op, int64_t now_ms)
{
    return raw_relay(p, op,
                     op == OP_REP_TRANSFORM ? transform_fields
                     : op == OP_REP_OBJECT  ? object_fields
                                            : property_fields,
                     now_ms);
}

/* A pose with only its p and r (what the re-encoding path relays). */
static json_t *pose_copy(json_t *pose)
{
    return pose ? json_pack("{sOsO}", "p", json_object_get(pose, "p"), "r",
                            json_object_get(pose, "r"))
                : NULL;
}

static void rep_transform(struct relay_peer *p, json_t *msg, int64_t now_ms)
{
    struct seat *s = p->seat;
    uint64_t seq;
    if (!seq_ok(p, msg, OP_REP_TRANSFORM, &seq))
        return;
    json_t *head = json_object_get(msg, "head"), *left = json_object_get(msg, "left"),
           *right = json_object_get(msg, "right");
    if (!pose_ok(head) || (left && !pose_ok(left)) || (right && !pose_ok(right))) {
        peer_error(p, "bad_field",
                   "head (and left, right when present) need p [3] and r [4] "
                   "finite numbers",
                   OP_REP_TRANSFORM, RELAY_DROP_BAD_FIELD);
        return;
    }
    if (s->tf_seen && seq <= s->tf_seq) {
        peer_drop(p, RELAY_DROP_STALE);
        return;
    }
    struct relay_msg *m = raw_relay(p, OP_REP_TRANSFORM, transform_fields, now_ms);
    if (!m) {
        json_t *out = json_pack("{siss}", "op", OP_REP_TRANSFORM, "from", p->user_id);
        if (out) {
            copy_field(out, msg, "seq");
            copy_field(out, msg, "t");
            json_object_set_new(out, "head", pose_copy(head));
            if (left)
                json_object_set_new(out, "left", pose_copy(left));
            if (right)
                json_object_set_new(out, "right", pose_copy(right));
        }
        m = encode(p, OP_REP_TRANSFORM, out, now_ms);
    }
    if (!m)
        return;
    s->tf_seen = true;
    s->tf_seq = seq;
    json_t *hp = json_object_get(head, "p");
    for (size_t i = 0; i < 3; i++)
        s->head[i] = json_number_value(json_array_get(hp, i));
    s->head_known = true;
    if (s->tf_msg && s->tf_tick == p->hub->tick) {
        peer_drop(p, RELAY_DROP_COALESCED);
    }
    relay_msg_unref(s->tf_msg);
    s->tf_msg = m;
    s->tf_tick = p->hub->tick;
}

/* Shared checks of REP_OBJECT / REP_PROPERTY: object, owner, epoch, seq per sender.  The
 * object, or NULL (message dropped). */
static struct reg_object *object_checks(struct relay_peer *p, json_t *msg, int op, uint64_t *seq,
                                        bool property)
{
    json_t *id = json_object_get(msg, "object_id");
    json_t *epoch = json_object_get(msg, "epoch");
    if (!registry_id_valid(id)) {
        peer_error(p, "bad_field", "object_id must be a string of 1..128 bytes", op,
                   RELAY_DROP_BAD_FIELD);
        return NULL;
    }
    if (!seq_ok(p, msg, op, seq))
        return NULL;
    if (!json_is_integer(epoch) || json_integer_value(epoch) < 0) {
        peer_error(p, "bad_field", "epoch must be a non-negative integer", op,
                   RELAY_DROP_BAD_FIELD);
        return NULL;
    }
    struct reg_object *o = registry_object(&p->room->reg, json_string_value(id));
    if (!o) {
        peer_error(p, "unknown_object", "no such object", op, RELAY_DROP_UNKNOWN_OBJECT);
        return NULL;
    }
    const char *owner = registry_owner(o, room_host_id(p->room));
    if (!owner || strcmp(owner, p->user_id) != 0) {
        peer_error(p, "not_owner", "only the object's owner may replicate it", op,
                   RELAY_DROP_NOT_OWNER);
        return NULL;
    }
    if ((uint64_t)json_integer_value(epoch) != o->epoch) { /* in flight from another owner */
        peer_drop(p, RELAY_DROP_EPOCH);
        return NULL;
    }
    const char *from = property ? o->prop_from : o->obj_from;
    uint64_t last = property ? o->prop_seq : o->obj_seq;
    if (strcmp(from, p->user_id) == 0 && *seq <= last) {
        peer_drop(p, RELAY_DROP_STALE);
        return NULL;
    }
    return o;
}

static void rep_object(struct relay_peer *p, json_t *msg, int64_t now_ms)
{
    uint64_t seq;
    struct reg_object *o = object_checks(p, msg, OP_REP_OBJECT, &seq, false);
    if (!o)
        return;
    double pos[3], rot[4], scale[3];
    memcpy(scale, o->scale, sizeof scale);
    if (registry_parse_transform(json_object_get(msg, "transform"), pos, rot, scale) != 0) {
        peer_error(p, "bad_field", "transform needs position [3], rotation [4], optional scale [3]",
                   OP_REP_OBJECT, RELAY_DROP_BAD_FIELD);
        return;
    }
    struct relay_msg *m = raw_relay(p, OP_REP_OBJECT, object_fields, now_ms);
    if (!m) {
        json_t *out =
            json_pack("{sissss}", "op", OP_REP_OBJECT, "from", p->user_id, "object_id", o->id);
        if (out) {
            copy_field(out, msg, "seq");
            copy_field(out, msg, "epoch");
            copy_field(out, msg, "t");
            json_object_set_new(out, "transform", registry_transform_json(pos, rot, scale));
        }
        m = encode(p, OP_REP_OBJECT, out, now_ms);
    }
    if (!m)
        return;
    memcpy(o->pos, pos, sizeof pos);
    memcpy(o->rot, rot, sizeof rot);
    memcpy(o->scale, scale, sizeof scale);
    o->seq = seq;
    o->obj_seq = seq;
    snprintf(o->obj_from, sizeof o->obj_from, "%s", p->user_id);
    p->room->rev++;
    if (o->rep_msg && o->rep_tick == p->hub->tick) {
        peer_drop(p, RELAY_DROP_COALESCED);
    }
    relay_msg_unref(o->rep_msg);
    o->rep_msg = m;
    o->rep_tick = p->hub->tick;
}

static int prop_slot_put(struct reg_object *o, const char *name, struct relay_msg *m, uint64_t tick,
                         bool *coalesced)
{
    struct reg_prop_slot *s = o->slots;
    while (s && strcmp(s->name, name) != 0)
        s = s->next;
    if (!s) {
        size_t n = strlen(name);
        if (!(s = calloc(1, sizeof *s + n + 1)))
            return -1;
        memcpy(s->name, name, n + 1);
        s->next = o->slots;
        o->slots = s;
    }
    *coalesced = s->msg && s->tick == tick;
    relay_msg_unref(s->msg);
    s->msg = relay_msg_ref(m);
    s->tick = tick;
    return 0;
}

static void rep_property(struct relay_peer *p, json_t *msg, int64_t now_ms)
{
    struct relay_room *room = p->room;
    uint64_t seq;
    struct reg_object *o = object_checks(p, msg, OP_REP_PROPERTY, &seq, true);
    if (!o)
        return;
    json_t *name = json_object_get(msg, "name"), *value = json_object_get(msg, "value");
    if (!json_is_string(name) || !value) {
        peer_error(p, "bad_field", "name (string) and value are required", OP_REP_PROPERTY,
                   RELAY_DROP_BAD_FIELD);
        return;
    }
    struct reg_manifest *man = registry_manifest(&room->reg, o->manifest_id);
    json_t *one = json_pack("{sO}", json_string_value(name), value);
    struct reg_err err;
    if (!one || !man || registry_check_props(man, one, &err) != 0) {
        json_decref(one);
        bool undeclared = man && err.code && strcmp(err.code, "undeclared") == 0;
        peer_error(p, man ? err.code : "undeclared",
                   man ? err.message : "the object's manifest is gone", OP_REP_PROPERTY,
                   undeclared || !man ? RELAY_DROP_UNDECLARED : RELAY_DROP_BAD_FIELD);
        return;
    }
    json_decref(one);
    int tier = registry_manifest_tier(man, json_string_value(name), NULL);
    json_t *old = json_incref(json_object_get(o->props, json_string_value(name)));
    bool changed = !old || !json_equal(old, value);
    if (changed) {
        json_object_set(o->props, json_string_value(name), value);
        if (registry_object_size(o) > p->hub->cfg.snapshot_frame_bytes - SNAPSHOT_ENVELOPE_BYTES) {
            if (old)
                json_object_set(o->props, json_string_value(name), old);
            else
                json_object_del(o->props, json_string_value(name));
            json_decref(old);
            peer_error(p, "too_large", "the object would not fit a snapshot chunk", OP_REP_PROPERTY,
                       RELAY_DROP_TOO_LARGE);
            return;
        }
    }
    json_decref(old);
    o->seq = seq;
    o->prop_seq = seq;
    snprintf(o->prop_from, sizeof o->prop_from, "%s", p->user_id);
    room->rev++;
    if (!changed || tier == ROOMDOC_SNAPSHOT_ONLY)
        return; /* on change only; snapshot_only is stored, never fanned out live */
    struct relay_msg *m = raw_relay(p, OP_REP_PROPERTY, property_fields, now_ms);
    if (!m) {
        json_t *out =
            json_pack("{sissss}", "op", OP_REP_PROPERTY, "from", p->user_id, "object_id", o->id);
        if (out) {
            copy_field(out, msg, "seq");
            copy_field(out, msg, "epoch");
            copy_field(out, msg, "t");
            copy_field(out, msg, "name");
            copy_field(out, msg, "value");
        }
        m = encode(p, OP_REP_PROPERTY, out, now_ms);
    }
    if (!m)
        return;
    if (tier == ROOMDOC_HIGH_RATE_UNRELIABLE) {
        bool coalesced = false;
        if (prop_slot_put(o, json_string_value(name), m, p->hub->tick, &coalesced) != 0)
            peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
        if (coalesced) {
            peer_drop(p, RELAY_DROP_COALESCED);
        }
    } else { /* reliable_on_change: in order, to every synced peer, never coalesced */
        for (size_t i = 0; i < room->nseats; i++) {
            struct relay_peer *r = room->seats[i]->conn;
            if (r && r != p && r->synced && !r->welcome_pending && !r->close_requested &&
                msgvec_push(&r->pending, m) != 0)
                peer_request_close(r, RELAY_CLOSE_INTERNAL, "internal");
        }
    }
    relay_msg_unref(m);
}

void repl_handle(struct relay_peer *p, int op, json_t *msg, int64_t now_ms)
{
    if (op == OP_REP_TRANSFORM)
        rep_transform(p, msg, now_ms);
    else if (op == OP_REP_OBJECT)
        rep_object(p, msg, now_ms);
    else
        rep_property(p, msg, now_ms);
}

/* ---- the tick ---- */
static int scratch_push(struct relay_hub *hub, size_t *n, struct relay_msg *m)
{
    if (grow_array(&hub->scratch, &hub->scratch_cap, *n + 1, sizeof *hub->scratch, 64,
                   RELAY_VEC_MAX) != 0)
        return -1;
    hub->scratch[(*n)++] = m;
    return 0;
}

/* Whether a recipient gets an object-plane update that arrived in tick window `at`:
 * held objects near the recipient every tick, idle or far ones on the object's downshift
 * ticks (every tick_hz / idle_hz ticks, phase spread by object), latest value only. */
static bool deliver(const struct relay_hub *hub, const struct reg_object *o, uint64_t at,
                    bool downshift, uint64_t since)
{
    uint64_t t = hub->tick;
    if (at == 0 || at > t)
        return false;
    uint64_t div = hub->cfg.tick_hz / hub->cfg.idle_hz;
    if (!downshift || div <= 1)
        return at >= since;
    if ((t + o->phase) % div != 0)
        return false;
    /* arrived since the object's previous downshift tick (or since the recipient's backlog) */
    return at + div > t || at >= since;
}

/* Catch-up after a backlog covers at most this many tick windows (older values of a peer that
 * far behind are lost until they change again; such a peer is usually a slow consumer). */
#define CATCHUP_MAX_TICKS 200

/* The oldest tick window a recipient of room still needs (t when nobody is backlogged). */
static uint64_t room_oldest_since(const struct relay_room *room, uint64_t t)
{
    uint64_t oldest = t;
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *r = room->seats[i]->conn;
        if (r && r->unrel_since && r->unrel_since < oldest)
            oldest = r->unrel_since;
    }
    return oldest;
}

/* Downshift decision for one recipient seat (exposed for the unit tests through the
 * behaviour of the tick). */
static bool is_downshifted(const struct relay_hub *hub, const struct reg_object *o,
                           const struct seat *r)
{
    if (!o->held_by[0])
        return true; /* idle */
    if (!r->head_known)
        return false;
    double d2 = 0;
    for (int i = 0; i < 3; i++)
        d2 += (o->pos[i] - r->head[i]) * (o->pos[i] - r->head[i]);
    return d2 > hub->cfg.far_distance_m * hub->cfg.far_distance_m;
}

/* The room's objects with an update that some recipient may get this tick (once per room
 * per tick, so that the per-recipient loop never walks the whole registry).  -1: nomem. */
static long collect_candidates(struct relay_room *room, uint64_t oldest)
{
    struct relay_hub *hub = room->hub;
    uint64_t div = hub->cfg.tick_hz / hub->cfg.idle_hz, t = hub->tick;
    size_t n = 0;
    for (struct reg_object *o = room->reg.ohead; o; o = o->next) {
        bool fresh = o->rep_msg && (o->rep_tick + div > t || o->rep_tick >= oldest);
        for (struct reg_prop_slot *s = o->slots; s && !fresh; s = s->next)
            fresh = s->tick + div > t || s->tick >= oldest;
        if (!fresh)
            continue;
        if (grow_array(&hub->cand, &hub->cand_cap, n + 1, sizeof *hub->cand, 64, RELAY_VEC_MAX) !=
            0)
            return -1;
        hub->cand[n++] = o;
    }
    return (long)n;
}

void repl_tick_room(struct relay_room *room, int64_t now_ms)
{
    (void)now_ms;
    struct relay_hub *hub = room->hub;
    uint64_t t = hub->tick;
    long ncand = collect_candidates(room, room_oldest_since(room, t));
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *r = room->seats[i]->conn;
        if (!r || r->close_requested || r->welcome_pending)
            continue;
        struct seat *rs = r->seat;
        if (r->unrel_since && r->unrel_since + CATCHUP_MAX_TICKS < t)
            r->unrel_since = t - CATCHUP_MAX_TICKS;
        uint64_t since = r->unrel_since ? r->unrel_since : t;
        size_t n = 0, unreliable_from;
        bool oom = ncand < 0;
        for (size_t k = 0; k < r->pending.count; k++)
            oom |= scratch_push(hub, &n, r->pending.items[k]) != 0;
        unreliable_from = n;
        for (size_t k = 0; k < room->nseats; k++) {
            struct seat *s = room->seats[k];
            if (s != rs && s->tf_msg && s->tf_tick >= since)
                oom |= scratch_push(hub, &n, s->tf_msg) != 0;
        }
        for (long c = 0; r->synced && c < ncand; c++) {
            struct reg_object *o = hub->cand[c];
            bool down = is_downshifted(hub, o, rs);
            if (o->rep_msg && strcmp(o->obj_from, r->user_id) != 0 &&
                deliver(hub, o, o->rep_tick, down, since))
                oom |= scratch_push(hub, &n, o->rep_msg) != 0;
            if (strcmp(o->prop_from, r->user_id) == 0)
                continue;
            for (struct reg_prop_slot *s = o->slots; s; s = s->next)
                if (deliver(hub, o, s->tick, down, since))
                    oom |= scratch_push(hub, &n, s->msg) != 0;
        }
        if (oom) {
            peer_request_close(r, RELAY_CLOSE_INTERNAL, "internal");
            continue;
        }
        if (n > unreliable_from && r->out.frames >= hub->cfg.outbox_skip_frames) {
            /* backlogged: this tick's unreliable data is not queued; newer values replace it,
             * and the latest of each stream goes out once the peer has caught up */
            room->counters.drops[RELAY_DROP_SLOW] += n - unreliable_from;
            hub->counters.drops[RELAY_DROP_SLOW] += n - unreliable_from;
            r->stats.drops[RELAY_DROP_SLOW] += n - unreliable_from;
            n = unreliable_from;
            if (!r->unrel_since)
                r->unrel_since = t;
        } else {
            r->unrel_since = 0;
        }
        if (n)
            peer_push_batches(r, hub->scratch, n);
        msgvec_clear(&r->pending);
    }
}
