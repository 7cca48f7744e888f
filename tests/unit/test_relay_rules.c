/* test_relay_rules.c — the relay's control-plane rules (issue 3): presences, host
 * election, capacity, replacement, grace, ownership contention, authority, cleanup per
 * persist mode, bad input, saves and restores. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "opcodes.h"
#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

#define MANIFEST                                                                                   \
    "{\"op\":25,\"manifest_id\":\"crate_v1\",\"properties\":{"                                     \
    "\"color\":{\"tier\":\"reliable_on_change\"},"                                                 \
    "\"label\":{\"tier\":\"snapshot_only\"},"                                                      \
    "\"wobble\":{\"tier\":\"high_rate_unreliable\"}}}"

static void spawn(struct tenv *e, struct relay_peer *p, const char *id, const char *mode)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"op\":20,\"object_id\":\"%s\",\"manifest_id\":\"crate_v1\",\"persist_mode\":"
             "\"%s\",\"transform\":{\"position\":[1,2,3],\"rotation\":[0,0,0,1]},"
             "\"properties\":{\"color\":\"#ff0000\"}}",
             id, mode);
    tsend(e, p, buf);
}

static void request(struct tenv *e, struct relay_peer *p, const char *id)
{
    char buf[256];
    snprintf(buf, sizeof buf, "{\"op\":10,\"object_id\":\"%s\"}", id);
    tsend(e, p, buf);
}

/* A room with u1 (host) and u2 joined, the manifest registered, everything drained. */
static void two(struct tenv *e, struct relay_peer **a, struct relay_peer **b)
{
    tenv_init(e);
    tenv_start(e);
    *a = tjoin(e, "room-1", "u1", RELAY_JOIN_OK);
    *b = tjoin(e, "room-1", "u2", RELAY_JOIN_OK);
    tsend(e, *a, MANIFEST);
    tdiscard(*a);
    tdiscard(*b);
}

START_TEST(welcome_presences_host)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "room-1", "u1", RELAY_JOIN_OK);
    ck_assert_uint_eq(e.created, 1);
    struct relay_peer *b = tjoin(&e, "room-1", "u2", RELAY_JOIN_OK);
    struct relay_peer *c = tjoin(&e, "room-1", "u3", RELAY_JOIN_OK);
    struct tdrain d;
    tdrain(c, &d);
    json_t *w = json_array_get(d.msgs, 0);
    ck_assert_int_eq(tint(w, "op"), OP_WELCOME); /* WELCOME first */
    ck_assert_str_eq(tstr(w, "host_id"), "u1");
    ck_assert_str_eq(tstr(w, "user_id"), "u3");
    ck_assert_str_eq(tstr(w, "room_id"), "room-1");
    ck_assert(json_is_false(json_object_get(w, "resumed")));
    ck_assert_int_eq(tint(w, "tick_hz"), 20);
    json_t *pr = json_object_get(w, "presences");
    ck_assert_uint_eq(json_array_size(pr), 3);
    ck_assert_str_eq(tstr(json_array_get(pr, 0), "user_id"), "u1");
    ck_assert_str_eq(tstr(json_array_get(pr, 2), "user_id"), "u3");
    ck_assert_int_lt(tint(json_array_get(pr, 0), "join_order"),
                     tint(json_array_get(pr, 1), "join_order"));
    tdrain_clear(&d);
    tdrain(a, &d);
    ck_assert_int_eq(tint(json_array_get(d.msgs, 0), "op"), OP_WELCOME);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_JOIN), 2);
    ck_assert_str_eq(tstr(tfind(&d, OP_PRESENCE_JOIN, 1), "user_id"), "u3");
    tdrain_clear(&d);
    /* the host leaves: the next oldest is host, everyone is told */
    tdiscard(b);
    relay_peer_leave(a, RELAY_LEAVE_CLEAN, e.now);
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_PRESENCE_LEAVE, 0), "user_id"), "u1");
    ck_assert_str_eq(tstr(tfind(&d, OP_PRESENCE_LEAVE, 0), "reason"), "left");
    ck_assert_str_eq(tstr(tfind(&d, OP_HOST_CHANGED, 0), "host_id"), "u2");
    tdrain_clear(&d);
    tdrain(c, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_HOST_CHANGED, 0), "host_id"), "u2");
    tdrain_clear(&d);
    /* a late joiner sees u2 as host, u3 next */
    struct relay_peer *f = tjoin(&e, "room-1", "u4", RELAY_JOIN_OK);
    tdrain(f, &d);
    ck_assert_str_eq(tstr(json_array_get(d.msgs, 0), "host_id"), "u2");
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(capacity_21st_refused)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    char uid[16];
    for (int i = 0; i < 20; i++) {
        snprintf(uid, sizeof uid, "u%02d", i);
        tjoin(&e, "full", uid, RELAY_JOIN_OK);
    }
    struct relay_peer *x = tjoin(&e, "full", "u20", RELAY_JOIN_ROOM_FULL);
    ck_assert_ptr_null(relay_peer_room(x));
    struct tdrain d;
    tdrain(x, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 1);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "room_full");
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_ROOM_FULL);
    ck_assert_str_eq(d.close_reason, "room_full");
    tdrain_clear(&d);
    relay_peer_leave(x, RELAY_LEAVE_CLEAN, e.now);
    ck_assert_uint_eq(relay_room_seat_count(relay_hub_find_room(e.hub, "full")), 20);
    /* an existing member reconnecting is not a 21st player */
    tjoin(&e, "full", "u05", RELAY_JOIN_RESUMED);
    /* a bad room id is refused */
    struct relay_peer *bad = tjoin(&e, "bad/room", "u1", RELAY_JOIN_BAD_ROOM);
    tdrain(bad, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_BAD_ROOM);
    tdrain_clear(&d);
    relay_peer_leave(bad, RELAY_LEAVE_DROPPED, e.now);
    tenv_free(&e);
}
END_TEST

START_TEST(contention_first_wins)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    spawn(&e, a, "crate-1", "placed_room");
    tdiscard(a);
    tdiscard(b);
    request(&e, b, "crate-1"); /* b first: free object (owned by a, held by nobody) */
    request(&e, a, "crate-1");
    struct tdrain d;
    tdrain(a, &d);
    json_t *g = tfind(&d, OP_OWNERSHIP_GRANTED, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(tstr(g, "owner_id"), "u2");
    ck_assert_str_eq(tstr(g, "held_by"), "u2");
    ck_assert_int_eq(tint(g, "epoch"), 1);
    json_t *den = tfind(&d, OP_OWNERSHIP_DENIED, 0);
    ck_assert_ptr_nonnull(den);
    ck_assert_str_eq(tstr(den, "reason"), "held");
    ck_assert_str_eq(tstr(den, "holder"), "u2");
    ck_assert_str_eq(tstr(den, "object_id"), "crate-1");
    tdrain_clear(&d);
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_OWNERSHIP_GRANTED), 1);
    ck_assert_uint_eq(tcount(&d, OP_OWNERSHIP_DENIED), 0); /* denial to the requester only */
    tdrain_clear(&d);
    /* unknown object */
    request(&e, a, "nope");
    tdrain(a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_OWNERSHIP_DENIED, 0), "reason"), "unknown_object");
    tdrain_clear(&d);
    /* release by a non-holder is rejected, the holder keeps it */
    tsend(&e, a, "{\"op\":13,\"object_id\":\"crate-1\"}");
    tdrain(a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "not_holder");
    ck_assert_int_eq(tint(tfind(&d, OP_ERROR, 0), "cause_op"), 13);
    ck_assert_uint_eq(tcount(&d, OP_OWNERSHIP_RELEASED), 0);
    tdrain_clear(&d);
    request(&e, a, "crate-1");
    tdrain(a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_OWNERSHIP_DENIED, 0), "holder"), "u2");
    tdrain_clear(&d);
    /* release by the holder: the host owns it again, epoch raised; then a may take it */
    tsend(&e, b,
          "{\"op\":13,\"object_id\":\"crate-1\",\"transform\":{\"position\":[5,0,0],"
          "\"rotation\":[0,0,0,1]}}");
    tdrain(a, &d);
    json_t *r = tfind(&d, OP_OWNERSHIP_RELEASED, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(tstr(r, "owner_id"), "u1");
    ck_assert(json_is_null(json_object_get(r, "held_by")));
    ck_assert_int_eq(tint(r, "epoch"), 2);
    ck_assert_str_eq(tstr(r, "by"), "u2");
    tdrain_clear(&d);
    request(&e, a, "crate-1");
    tdrain(a, &d);
    ck_assert_int_eq(tint(tfind(&d, OP_OWNERSHIP_GRANTED, 0), "epoch"), 3);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(authority_on_mutations)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    spawn(&e, a, "crate-1", "placed_room");
    tdiscard(a);
    tdiscard(b);
    tsend(&e, b, "{\"op\":21,\"object_id\":\"crate-1\"}");
    tsend(&e, b, "{\"op\":22,\"object_id\":\"crate-1\",\"persist_mode\":\"placed_saved\"}");
    struct tdrain d;
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_ERROR), 2);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "not_owner");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 1), "code"), "not_owner");
    tdrain_clear(&d);
    tdrain(a, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 0); /* nothing reached anyone */
    tdrain_clear(&d);
    ck_assert_uint_eq(
        relay_room_counters(relay_hub_find_room(e.hub, "room-1"))->drops[RELAY_DROP_NOT_OWNER], 2);
    /* the owner may */
    tsend(&e, a, "{\"op\":22,\"object_id\":\"crate-1\",\"persist_mode\":\"placed_saved\"}");
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_PERSIST, 0), "persist_mode"), "placed_saved");
    tdrain_clear(&d);
    tsend(&e, a, "{\"op\":21,\"object_id\":\"crate-1\"}");
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_DESPAWN, 0), "object_id"), "crate-1");
    tdrain_clear(&d);
    /* spawn checks: unknown manifest, undeclared property, duplicate id */
    tsend(&e, a,
          "{\"op\":20,\"object_id\":\"x\",\"manifest_id\":\"nope\",\"persist_mode\":"
          "\"placed_room\"}");
    tsend(&e, a,
          "{\"op\":20,\"object_id\":\"x\",\"manifest_id\":\"crate_v1\",\"persist_mode\":"
          "\"placed_room\",\"properties\":{\"secret\":1}}");
    spawn(&e, a, "dup", "placed_room");
    spawn(&e, a, "dup", "placed_room");
    tdrain(a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "unknown_manifest");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 1), "code"), "undeclared");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 2), "code"), "exists");
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_SPAWN), 1);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

/* Each persist mode on a clean disconnect of the holder. */
START_TEST(cleanup_per_persist_mode)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    struct relay_peer *c = tjoin(&e, "room-1", "u3", RELAY_JOIN_OK);
    tsend(&e, c, "{\"op\":40}"); /* joined a non-empty room: snapshot, then live */
    spawn(&e, b, "t", "transient_held");
    spawn(&e, b, "r", "placed_room");
    spawn(&e, b, "s", "placed_saved");
    spawn(&e, a, "keep", "placed_room");
    request(&e, b, "t");
    request(&e, b, "r");
    request(&e, b, "s");
    tdiscard(a);
    tdiscard(b);
    tdiscard(c);
    relay_peer_leave(b, RELAY_LEAVE_CLEAN, e.now);
    struct tdrain d;
    tdrain(c, &d);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_DESPAWN), 1);
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_DESPAWN, 0), "object_id"), "t");
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_DESPAWN, 0), "reason"), "owner_left");
    ck_assert_uint_eq(tcount(&d, OP_OWNERSHIP_RELEASED), 2);
    json_t *r0 = tfind(&d, OP_OWNERSHIP_RELEASED, 0), *r1 = tfind(&d, OP_OWNERSHIP_RELEASED, 1);
    ck_assert_str_eq(tstr(r0, "object_id"), "r");
    ck_assert_str_eq(tstr(r0, "owner_id"), "u1"); /* owner -> host */
    ck_assert(json_is_null(json_object_get(r0, "held_by")));
    ck_assert_str_eq(tstr(r1, "object_id"), "s");
    tdrain_clear(&d);
    /* the registry: t gone, r and s kept host-owned, placed_saved included in the save */
    json_t *doc = relay_room_export(relay_hub_find_room(e.hub, "room-1"));
    json_t *objs = json_object_get(doc, "objects");
    ck_assert_uint_eq(json_array_size(objs), 3);
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        ck_assert_str_ne(tstr(o, "object_id"), "t");
        ck_assert_str_eq(tstr(o, "owner_id"), "u1");
        ck_assert(json_is_null(json_object_get(o, "held_by")));
    }
    ck_assert_str_eq(tstr(json_array_get(objs, 1), "persist_mode"), "placed_saved");
    json_decref(doc);
    tenv_free(&e);
}
END_TEST

/* The host leaves while holding objects and owning others. */
START_TEST(host_leaves_holding)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    spawn(&e, a, "held-t", "transient_held");
    spawn(&e, a, "held-p", "placed_room");
    spawn(&e, a, "owned", "placed_room");
    spawn(&e, a, "owned-t", "transient_held");
    request(&e, a, "held-t");
    request(&e, a, "held-p");
    tdiscard(a);
    tdiscard(b);
    relay_peer_leave(a, RELAY_LEAVE_CLEAN, e.now);
    struct tdrain d;
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_HOST_CHANGED, 0), "host_id"), "u2");
    ck_assert_str_eq(tstr(tfind(&d, OP_HOST_CHANGED, 0), "previous_host_id"), "u1");
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_DESPAWN), 1);
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_DESPAWN, 0), "object_id"), "held-t");
    ck_assert_str_eq(tstr(tfind(&d, OP_OWNERSHIP_RELEASED, 0), "object_id"), "held-p");
    ck_assert_str_eq(tstr(tfind(&d, OP_OWNERSHIP_RELEASED, 0), "owner_id"), "u2");
    tdrain_clear(&d);
    /* what the old host owned (not held), the new host owns: u2 may despawn it */
    json_t *doc = relay_room_export(relay_hub_find_room(e.hub, "room-1"));
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, "objects"), i, o)
        ck_assert_str_eq(tstr(o, "owner_id"), "u2");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "objects")), 3);
    json_decref(doc);
    tsend(&e, b, "{\"op\":21,\"object_id\":\"owned\"}");
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_DESPAWN), 1);
    ck_assert_uint_eq(tcount(&d, OP_ERROR), 0);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(grace_resume_and_expiry)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    spawn(&e, a, "mug", "transient_held");
    request(&e, a, "mug");
    tdiscard(b);
    relay_peer_leave(a, RELAY_LEAVE_DROPPED, e.now); /* no close frame */
    ttick(&e, 5000);
    struct tdrain d;
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_LEAVE), 0);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_DESPAWN), 0);
    tdrain_clear(&d);
    /* back within the grace: seat, order, objects, host status */
    a = tjoin(&e, "room-1", "u1", RELAY_JOIN_RESUMED);
    tdrain(a, &d);
    json_t *w = json_array_get(d.msgs, 0);
    ck_assert_int_eq(tint(w, "op"), OP_WELCOME);
    ck_assert(json_is_true(json_object_get(w, "resumed")));
    ck_assert_str_eq(tstr(w, "host_id"), "u1");
    ck_assert_int_eq(tint(w, "join_order"), 1);
    tdrain_clear(&d);
    ttick(&e, 20000);
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_JOIN), 0); /* others never saw it leave */
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_DESPAWN), 0);
    tdrain_clear(&d);
    request(&e, b, "mug");
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_OWNERSHIP_DENIED, 0), "holder"), "u1");
    tdrain_clear(&d);
    /* dropped again, and the grace runs out: cleanup and host migration */
    relay_peer_leave(a, RELAY_LEAVE_DROPPED, e.now);
    ttick(&e, 9999);
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_LEAVE), 0);
    tdrain_clear(&d);
    ttick(&e, 2);
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_PRESENCE_LEAVE, 0), "reason"), "timeout");
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_DESPAWN, 0), "object_id"), "mug");
    ck_assert_str_eq(tstr(tfind(&d, OP_HOST_CHANGED, 0), "host_id"), "u2");
    tdrain_clear(&d);
    /* the same user after the grace: a new seat at the end */
    a = tjoin(&e, "room-1", "u1", RELAY_JOIN_OK);
    tdrain(a, &d);
    w = json_array_get(d.msgs, 0);
    ck_assert(json_is_false(json_object_get(w, "resumed")));
    ck_assert_str_eq(tstr(w, "host_id"), "u2");
    ck_assert_str_eq(tstr(json_array_get(json_object_get(w, "presences"), 1), "user_id"), "u1");
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(replacement_of_older_connection)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    struct relay_peer *a2 = tjoin(&e, "room-1", "u1", RELAY_JOIN_RESUMED);
    ck_assert_ptr_null(relay_peer_room(a));
    struct tdrain d;
    tdrain(a, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_REPLACED);
    ck_assert_str_eq(d.close_reason, "replaced");
    tdrain_clear(&d);
    /* the old connection going away changes nothing in the room */
    relay_peer_leave(a, RELAY_LEAVE_CLEAN, e.now);
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_LEAVE), 0);
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_JOIN), 0);
    tdrain_clear(&d);
    tdrain(a2, &d);
    ck_assert(json_is_true(json_object_get(json_array_get(d.msgs, 0), "resumed")));
    tdrain_clear(&d);
    ck_assert_uint_eq(relay_hub_peer_count(e.hub), 2);
    tenv_free(&e);
}
END_TEST

START_TEST(bad_input_errors_and_kick)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    tsend(&e, a, "{not json");
    tsend(&e, a, "{\"op\":99}");
    tsend(&e, a, "{\"op\":\"10\"}");
    tsend(&e, a, "[1,2]");
    tsend(&e, a, "{\"op\":11,\"object_id\":\"x\"}");
    tsend(&e, a, "{\"op\":10}");
    tsend(&e, a, "{\"a\":1,\"a\":2,\"op\":10}");
    relay_peer_too_large(a, e.now);
    struct tdrain d;
    tdrain(a, &d);
    const char *want[] = {"malformed",  "unknown_op", "malformed", "malformed", "malformed",
                          "unknown_op", "bad_field",  "malformed", "too_large"};
    ck_assert_uint_eq(tcount(&d, OP_ERROR), 9);
    for (size_t i = 0; i < 9; i++)
        ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, i), "code"), want[i]);
    ck_assert_int_eq(tint(tfind(&d, OP_ERROR, 1), "cause_op"), 99);
    ck_assert(!d.closed);
    tdrain_clear(&d);
    /* the errors themselves are rate-limited; a client that keeps at it is closed */
    e.now += 1000;
    for (int i = 0; i < 200 && relay_peer_room(a); i++)
        tsend(&e, a, "{\"op\":99}");
    tdrain(a, &d);
    ck_assert_uint_le(tcount(&d, OP_ERROR), e.cfg.errors_per_s);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_BAD_INPUT);
    ck_assert_str_eq(d.close_reason, "bad_input");
    tdrain_clear(&d);
    tsend(&e, a, "{\"op\":10,\"object_id\":\"x\"}"); /* ignored once closing */
    relay_peer_leave(a, RELAY_LEAVE_DROPPED, e.now); /* kicked: cleanup at once */
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_PRESENCE_LEAVE, 0), "reason"), "kicked");
    tdrain_clear(&d);
    /* everyone else is still served */
    tsend(&e, b, MANIFEST);
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_MANIFEST_REGISTER), 1);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(flood_rate_limited)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    char buf[200];
    unsigned rate_errors = 0;
    for (int i = 1; i <= 600; i++) {
        snprintf(buf, sizeof buf,
                 "{\"op\":30,\"seq\":%d,\"head\":{\"p\":[0,1,0],"
                 "\"r\":[0,0,0,1]}}",
                 i);
        tsend(&e, a, buf);
    }
    struct tdrain d;
    tdrain(a, &d);
    for (size_t i = 0; i < tcount(&d, OP_ERROR); i++)
        rate_errors += strcmp(tstr(tfind(&d, OP_ERROR, i), "code"), "rate") == 0;
    ck_assert_uint_ge(rate_errors, 1);
    tdrain_clear(&d);
    ck_assert_uint_ge(
        relay_room_counters(relay_hub_find_room(e.hub, "room-1"))->drops[RELAY_DROP_RATE], 100);
    tenv_free(&e);
}
END_TEST

START_TEST(save_request_rules)
{
    struct tenv e;
    struct relay_peer *a, *b;
    two(&e, &a, &b);
    spawn(&e, a, "s", "placed_saved");
    tdiscard(a);
    tdiscard(b);
    tsend(&e, b, "{\"op\":50}");
    struct tdrain d;
    tdrain(b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "not_host");
    tdrain_clear(&d);
    ck_assert_uint_eq(e.saves, 0);
    tsend(&e, a, "{\"op\":50}");
    ck_assert_uint_eq(e.saves, 1);
    ck_assert_int_eq(e.last_save_why, RELAY_SAVE_REQUEST);
    ck_assert_str_eq(e.last_save_user, "u1");
    json_t *o = json_array_get(json_object_get(e.last_save, "objects"), 0);
    ck_assert_str_eq(tstr(o, "object_id"), "s");
    ck_assert_str_eq(tstr(o, "manifest_id"), "crate_v1");
    ck_assert_str_eq(tstr(json_object_get(o, "properties"), "color"), "#ff0000");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(e.last_save, "manifests"), "crate_v1"));
    relay_room_save_result(relay_hub_find_room(e.hub, "room-1"), true, 3, 1, NULL, "u1");
    tdrain(b, &d);
    json_t *r = tfind(&d, OP_SAVE_RESULT, 0);
    ck_assert(json_is_true(json_object_get(r, "ok")));
    ck_assert_int_eq(tint(r, "version"), 3);
    tdrain_clear(&d);
    /* last one out: the room saves itself, stays for the TTL, then is freed */
    relay_peer_leave(b, RELAY_LEAVE_CLEAN, e.now);
    relay_peer_leave(a, RELAY_LEAVE_CLEAN, e.now);
    ck_assert_uint_eq(e.saves, 2);
    ck_assert_int_eq(e.last_save_why, RELAY_SAVE_EMPTY);
    ttick(&e, 29000);
    ck_assert_ptr_nonnull(relay_hub_find_room(e.hub, "room-1"));
    a = tjoin(&e, "room-1", "u9", RELAY_JOIN_OK); /* a quick rejoin finds it as it was */
    tsend(&e, a, "{\"op\":40}");
    tdrain(a, &d);
    ck_assert_int_eq(tint(tfind(&d, OP_SNAPSHOT_DONE, 0), "objects"), 1);
    tdrain_clear(&d);
    relay_peer_leave(a, RELAY_LEAVE_CLEAN, e.now);
    ttick(&e, 29000);
    ck_assert_ptr_nonnull(relay_hub_find_room(e.hub, "room-1"));
    ttick(&e, 2000);
    ck_assert_ptr_null(relay_hub_find_room(e.hub, "room-1"));
    ck_assert_uint_eq(e.freed, 1);
    tenv_free(&e);
}
END_TEST

START_TEST(save_without_persistence)
{
    struct relay_config cfg;
    relay_config_defaults(&cfg);
    struct relay_hub *hub = relay_hub_new(&cfg, NULL, NULL);
    struct relay_peer *a = NULL;
    ck_assert_int_eq(relay_hub_join(hub, "r", "u1", "n", NULL, 1, &a), RELAY_JOIN_OK);
    relay_peer_handle(a, "{\"op\":50}", 9, 2);
    struct tdrain d;
    tdrain(a, &d);
    json_t *r = tfind(&d, OP_SAVE_RESULT, 0);
    ck_assert(json_is_false(json_object_get(r, "ok")));
    ck_assert_str_eq(tstr(r, "error"), "persistence_disabled");
    tdrain_clear(&d);
    relay_hub_free(hub);
}
END_TEST

START_TEST(restore_from_saved_state)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "saved", "u1", RELAY_JOIN_OK);
    tdiscard(a);
    const char *text =
        "{\"room_id\":\"saved\",\"version\":4,\"manifests\":{\"crate_v1\":{\"properties\":{"
        "\"color\":{\"tier\":\"reliable_on_change\"}}}},\"objects\":[{\"object_id\":\"c1\","
        "\"manifest_id\":\"crate_v1\",\"persist_mode\":\"placed_saved\",\"owner_id\":null,"
        "\"held_by\":null,\"placed\":true,\"seq\":42,\"transform\":{\"position\":[1,0.5,-2],"
        "\"rotation\":[0,0,0,1],\"scale\":[1,1,1]},\"properties\":{\"color\":\"#ff0000\"}}]}";
    json_t *doc = json_loads(text, 0, NULL);
    struct relay_room *room = relay_hub_find_room(e.hub, "saved");
    ck_assert_int_eq(relay_room_restore(room, doc, 4, e.now), 0);
    json_decref(doc);
    struct tdrain d;
    tdrain(a, &d); /* joined an empty room: told at once */
    json_t *sp = tfind(&d, OP_OBJECT_SPAWN, 0);
    ck_assert_str_eq(tstr(sp, "owner_id"), "u1");
    ck_assert_int_eq(tint(sp, "seq"), 42);
    ck_assert_uint_eq(tcount(&d, OP_MANIFEST_REGISTER), 1);
    tdrain_clear(&d);
    struct relay_peer *b = tjoin(&e, "saved", "u2", RELAY_JOIN_OK);
    tdrain(b, &d);
    json_t *w = json_array_get(d.msgs, 0);
    ck_assert(json_is_true(json_object_get(w, "restored")));
    ck_assert_int_eq(tint(w, "restored_version"), 4);
    tdrain_clear(&d);
    json_t *bad = json_loads("{\"objects\":{}}", 0, NULL);
    ck_assert_int_eq(relay_room_restore(room, bad, 5, e.now), -1);
    json_decref(bad);
    tenv_free(&e);
}
END_TEST

START_TEST(welcome_waits_for_the_load)
{
    static const char *doc_text =
        "{\"manifests\":{\"crate_v1\":{\"properties\":{\"color\":{\"tier\":"
        "\"reliable_on_change\"}}}},\"objects\":[{\"object_id\":\"c1\",\"manifest_id\":"
        "\"crate_v1\",\"persist_mode\":\"placed_saved\",\"owner_id\":null,\"held_by\":null,"
        "\"placed\":true,\"seq\":3,\"transform\":{\"position\":[0,0,0],\"rotation\":[0,0,0,1]},"
        "\"properties\":{\"color\":\"#ff0000\"}}]}";
    struct tenv e;
    tenv_init(&e);
    e.load_on_create = true;
    tenv_start(&e);
    struct tdrain d;
    /* 1. restored: nothing before the load ends, then WELCOME says restored + version */
    struct relay_peer *a = tjoin(&e, "loading", "u1", RELAY_JOIN_OK);
    struct relay_peer *b = tjoin(&e, "loading", "u2", RELAY_JOIN_OK);
    tsend(&e, a, "{\"op\":50}");
    tdrain(a, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 0);
    tdrain_clear(&d);
    struct relay_room *room = relay_hub_find_room(e.hub, "loading");
    ck_assert_uint_eq(relay_hub_counters(e.hub)->drops[RELAY_DROP_NOT_READY], 1);
    json_t *doc = json_loads(doc_text, 0, NULL);
    ck_assert_int_eq(relay_room_restore(room, doc, 7, e.now), 0);
    json_decref(doc);
    tdrain(a, &d);
    json_t *w = json_array_get(d.msgs, 0);
    ck_assert_int_eq(tint(w, "op"), OP_WELCOME);
    ck_assert(json_is_true(json_object_get(w, "restored")));
    ck_assert_int_eq(tint(w, "restored_version"), 7);
    ck_assert_str_eq(tstr(w, "host_id"), "u1");
    ck_assert_uint_eq(json_array_size(json_object_get(w, "presences")), 2);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_SPAWN), 0); /* the objects come by snapshot */
    ck_assert_uint_eq(tcount(&d, OP_PRESENCE_JOIN), 0); /* WELCOME lists everyone */
    tdrain_clear(&d);
    tdrain(b, &d);
    ck_assert_int_eq(tint(json_array_get(d.msgs, 0), "op"), OP_WELCOME);
    ck_assert_int_eq(tint(json_array_get(d.msgs, 0), "join_order"), 2);
    tdrain_clear(&d);
    /* 2. never saved: WELCOME with restored false */
    struct relay_peer *c = tjoin(&e, "fresh", "u3", RELAY_JOIN_OK);
    tdrain(c, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 0);
    tdrain_clear(&d);
    relay_room_restore_none(relay_hub_find_room(e.hub, "fresh"));
    tdrain(c, &d);
    w = json_array_get(d.msgs, 0);
    ck_assert_int_eq(tint(w, "op"), OP_WELCOME);
    ck_assert(json_is_false(json_object_get(w, "restored")));
    tdrain_clear(&d);
    /* 3. no answer at all: the bound ends the wait */
    struct relay_peer *f = tjoin(&e, "silent", "u4", RELAY_JOIN_OK);
    ttick(&e, RELAY_LOAD_TIMEOUT_MS / 2);
    tdrain(f, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 0);
    tdrain_clear(&d);
    ttick(&e, RELAY_LOAD_TIMEOUT_MS / 2);
    tdrain(f, &d);
    ck_assert_int_eq(tint(json_array_get(d.msgs, 0), "op"), OP_WELCOME);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(manifests_limits_shutdown)
{
    struct tenv e;
    tenv_init(&e);
    e.cfg.max_objects = 2;
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "m", "u1", RELAY_JOIN_OK);
    tsend(&e, a, MANIFEST);
    tsend(&e, a, MANIFEST); /* the same again: confirmed to the sender */
    tsend(&e, a, "{\"op\":25,\"manifest_id\":\"crate_v1\",\"properties\":{}}");
    tsend(&e, a,
          "{\"op\":25,\"manifest_id\":\"m2\",\"properties\":{\"x\":"
          "{\"tier\":\"fast\"}}}");
    tsend(&e, a,
          "{\"op\":25,\"manifest_id\":\"m3\",\"properties\":{\"x\":"
          "{\"tier\":\"snapshot_only\",\"durable\":\"yes\"}}}");
    struct tdrain d;
    tdrain(a, &d);
    ck_assert_uint_eq(tcount(&d, OP_MANIFEST_REGISTER), 2);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "conflict");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 1), "code"), "bad_field");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 2), "code"), "bad_field");
    tdrain_clear(&d);
    /* a late joiner (room not empty) gets only its own object-plane messages before its
     * snapshot */
    struct relay_peer *b = tjoin(&e, "m", "u2", RELAY_JOIN_OK);
    spawn(&e, a, "one", "placed_room");
    spawn(&e, b, "two", "placed_room");
    spawn(&e, b, "three", "placed_room"); /* over max_objects */
    tdrain(b, &d);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_SPAWN), 1);
    ck_assert_str_eq(tstr(tfind(&d, OP_OBJECT_SPAWN, 0), "object_id"), "two");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "limit");
    tdrain_clear(&d);
    tdrain(a, &d);
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_SPAWN), 2);
    tdrain_clear(&d);
    /* shutdown: every peer is asked to close with 1001 */
    relay_hub_shutdown(e.hub);
    tdrain(a, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_GOING_AWAY);
    ck_assert_str_eq(d.close_reason, "shutdown");
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

static Suite *relay_rules_suite(void)
{
    Suite *s = suite_create("relay_rules");
    TCase *tc = tcase_create("control");
    tcase_add_test(tc, welcome_presences_host);
    tcase_add_test(tc, capacity_21st_refused);
    tcase_add_test(tc, contention_first_wins);
    tcase_add_test(tc, authority_on_mutations);
    tcase_add_test(tc, cleanup_per_persist_mode);
    tcase_add_test(tc, host_leaves_holding);
    tcase_add_test(tc, grace_resume_and_expiry);
    tcase_add_test(tc, replacement_of_older_connection);
    tcase_add_test(tc, bad_input_errors_and_kick);
    tcase_add_test(tc, flood_rate_limited);
    tcase_add_test(tc, save_request_rules);
    tcase_add_test(tc, save_without_persistence);
    tcase_add_test(tc, restore_from_saved_state);
    tcase_add_test(tc, welcome_waits_for_the_load);
    tcase_add_test(tc, manifests_limits_shutdown);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_rules_suite)
