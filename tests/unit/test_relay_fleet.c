/* test_relay_fleet.c — the relay's fleet logic (issue 10): the lease state machine
 * (relay/lease.c: acquire, renew every ttl/3, validity by the relay's own clock, lease-held,
 * lease-lost, transient failures) and the room checkpoint (relay/checkpoint.c: export of the
 * whole live registry, restore with the seats in join order, eviction and freezing). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "opcodes.h"
#include "relay/lease.h"
#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

/* ---- lease ---- */

START_TEST(lease_classify_answers)
{
    ck_assert_int_eq(lease_classify(200, NULL), LEASE_ANS_OK);
    ck_assert_int_eq(lease_classify(409, "https://roomstate.dev/problems/lease-held"),
                     LEASE_ANS_HELD);
    ck_assert_int_eq(lease_classify(409, "lease-lost"), LEASE_ANS_LOST);
    ck_assert_int_eq(lease_classify(409, "conflict"), LEASE_ANS_REFUSED);
    ck_assert_int_eq(lease_classify(409, NULL), LEASE_ANS_REFUSED);
    ck_assert_int_eq(lease_classify(0, NULL), LEASE_ANS_TRANSIENT);
    ck_assert_int_eq(lease_classify(503, NULL), LEASE_ANS_TRANSIENT);
    ck_assert_int_eq(lease_classify(429, NULL), LEASE_ANS_TRANSIENT);
    ck_assert_int_eq(lease_classify(403, NULL), LEASE_ANS_REFUSED);
    ck_assert_int_eq(lease_classify(404, NULL), LEASE_ANS_REFUSED);
}
END_TEST

START_TEST(lease_acquire_renew_schedule)
{
    struct lease l;
    bool renew;
    lease_init(&l, 3000);
    ck_assert(lease_next(&l, 1000, &renew));
    ck_assert(!renew);
    ck_assert(!lease_next(&l, 1001, &renew)); /* one request at a time */
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 7, -1, 1040, 5), LEASE_EV_GRANTED);
    ck_assert_int_eq(l.fence, 7);
    /* validity counted from when the request was SENT, minus the margin (ttl/10) */
    ck_assert_int_eq(l.valid_until_ms, 1000 + 3000 - 300);
    ck_assert(!lease_next(&l, 1999, &renew)); /* renewal at sent + ttl/3 */
    ck_assert(lease_next(&l, 2000, &renew));
    ck_assert(renew);
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 7, -1, 2010, 5), LEASE_EV_RENEWED);
    ck_assert_int_eq(l.valid_until_ms, 2000 + 3000 - 300);
    ck_assert_int_eq(l.next_renew_ms, 3000);
    ck_assert(!lease_expired(&l, 4699));
    ck_assert_int_eq(l.state, LEASE_HELD);
}
END_TEST

START_TEST(lease_expires_by_own_clock)
{
    struct lease l;
    bool renew;
    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 1, -1, 10, 5), LEASE_EV_GRANTED);
    /* renewals fail transiently: retried every LEASE_RETRY_MS while still valid */
    ck_assert(lease_next(&l, 1666, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_TRANSIENT, 0, -1, 2666, 5), LEASE_EV_NONE);
    ck_assert_int_eq(l.state, LEASE_HELD);
    ck_assert(!lease_next(&l, 2666 + LEASE_RETRY_MS - 1, &renew));
    ck_assert(lease_next(&l, 2666 + LEASE_RETRY_MS, &renew));
    ck_assert(renew);
    /* the process was stopped: the answer never came, the clock ran past the validity */
    ck_assert(!lease_expired(&l, 4499));
    ck_assert(lease_expired(&l, 4500)); /* 5000 - margin 500 */
    ck_assert_int_eq(l.state, LEASE_LOST);
    ck_assert(!lease_expired(&l, 4600)); /* reported once */
    /* a late 200 for the lost lease changes nothing */
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 1, -1, 4700, 5), LEASE_EV_NONE);
    ck_assert_int_eq(l.state, LEASE_LOST);
    ck_assert(!lease_next(&l, 9000, &renew));
}
END_TEST

START_TEST(lease_held_and_lost)
{
    struct lease l;
    bool renew;
    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_HELD, 0, 1234, 5, 5), LEASE_EV_HELD);
    ck_assert_int_eq(l.state, LEASE_HELD_ELSEWHERE);
    ck_assert_int_eq(l.retry_after_ms, 1234);
    ck_assert(!lease_next(&l, 10, &renew)); /* the caller decides when to ask again */

    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 4, -1, 5, 5), LEASE_EV_GRANTED);
    ck_assert(lease_next(&l, 1666, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_LOST, 0, -1, 1670, 5), LEASE_EV_LOST);
    ck_assert_int_eq(l.state, LEASE_LOST);

    /* a renewal answered with another fence: someone else's lease, not ours */
    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 4, -1, 5, 5), LEASE_EV_GRANTED);
    ck_assert(lease_next(&l, 1666, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 5, -1, 1670, 5), LEASE_EV_LOST);

    /* a renewal answered lease-held (taken over after expiry) is lost too */
    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 4, -1, 5, 5), LEASE_EV_GRANTED);
    ck_assert(lease_next(&l, 1666, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_HELD, 0, 3000, 1670, 5), LEASE_EV_LOST);
}
END_TEST

START_TEST(lease_acquire_failures)
{
    struct lease l;
    bool renew;
    lease_init(&l, 5000);
    for (int i = 0; i < 2; i++) {
        ck_assert(lease_next(&l, i, &renew));
        ck_assert_int_eq(lease_result(&l, LEASE_ANS_TRANSIENT, 0, -1, i, 3), LEASE_EV_NONE);
        ck_assert_int_eq(l.state, LEASE_NONE);
    }
    ck_assert(lease_next(&l, 5, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_TRANSIENT, 0, -1, 5, 3), LEASE_EV_FAILED);
    ck_assert_int_eq(l.state, LEASE_FAILED);
    ck_assert(!lease_next(&l, 6, &renew));

    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_REFUSED, 0, -1, 1, 3), LEASE_EV_FAILED);
    lease_init(&l, 5000);
    ck_assert(lease_next(&l, 0, &renew));
    ck_assert_int_eq(lease_result(&l, LEASE_ANS_OK, 0, -1, 1, 3), LEASE_EV_FAILED); /* no fence */
    /* ttl clamped to the server's bounds */
    lease_init(&l, 10);
    ck_assert_int_eq(l.ttl_ms, LEASE_TTL_MIN_MS);
    lease_init(&l, 999999);
    ck_assert_int_eq(l.ttl_ms, LEASE_TTL_MAX_MS);
    ck_assert_int_eq(lease_margin_ms(60000), 500);
}
END_TEST

/* ---- checkpoint ---- */

#define MANIFEST                                                                                   \
    "{\"op\":25,\"manifest_id\":\"crate_v1\",\"properties\":{"                                     \
    "\"color\":{\"tier\":\"reliable_on_change\"},"                                                 \
    "\"count\":{\"tier\":\"reliable_on_change\",\"durable\":true}}}"

static void spawn(struct tenv *e, struct relay_peer *p, const char *id, const char *mode)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"op\":20,\"object_id\":\"%s\",\"manifest_id\":\"crate_v1\",\"persist_mode\":"
             "\"%s\",\"transform\":{\"position\":[1,2,3],\"rotation\":[0,0,0,1]},"
             "\"properties\":{\"color\":\"#ff0000\"},\"held\":%s}",
             id, mode, strcmp(mode, "transient_held") ? "false" : "true");
    tsend(e, p, buf);
}

/* A room "r" with u1 (host), u2 and u3; objects of the three persist modes; u2 holds
 * "held" (transient_held, its spawner), u3 took "placed" and changed its count. */
static json_t *build_room(struct tenv *e)
{
    tenv_init(e);
    tenv_start(e);
    struct relay_peer *a = tjoin(e, "r", "u1", RELAY_JOIN_OK);
    struct relay_peer *b = tjoin(e, "r", "u2", RELAY_JOIN_OK);
    struct relay_peer *c = tjoin(e, "r", "u3", RELAY_JOIN_OK);
    tsend(e, a, MANIFEST);
    spawn(e, a, "saved", "placed_saved");
    spawn(e, a, "placed", "placed_room");
    spawn(e, b, "held", "transient_held");
    tsend(e, c, "{\"op\":10,\"object_id\":\"placed\"}");
    tsend(e, c,
          "{\"op\":32,\"object_id\":\"placed\",\"seq\":9,\"epoch\":1,\"name\":\"count\","
          "\"value\":41}");
    ttick(e, 50);
    tdiscard(a);
    tdiscard(b);
    tdiscard(c);
    struct relay_room *room = relay_hub_find_room(e->hub, "r");
    ck_assert_ptr_nonnull(room);
    json_t *ck = relay_room_checkpoint(room);
    ck_assert_ptr_nonnull(ck);
    return ck;
}

static json_t *obj(json_t *ck, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(
        json_object_get(ck, "objects"), i,
        o) if (!strcmp(json_string_value(json_object_get(o, "object_id")), id)) return o;
    return NULL;
}

START_TEST(checkpoint_holds_live_state)
{
    struct tenv e;
    json_t *ck = build_room(&e);
    ck_assert_str_eq(tstr(ck, "format"), "roomstate-checkpoint/1");
    ck_assert_str_eq(tstr(ck, "host_id"), "u1");
    ck_assert_int_eq(json_array_size(json_object_get(ck, "presences")), 3);
    ck_assert_int_eq(tint(ck, "next_join_order"), 4);
    ck_assert_int_eq(json_array_size(json_object_get(ck, "objects")), 3); /* all three modes */
    json_t *held = obj(ck, "held"), *placed = obj(ck, "placed"), *saved = obj(ck, "saved");
    ck_assert_ptr_nonnull(held);
    ck_assert_str_eq(tstr(held, "held_by"), "u2");
    ck_assert_str_eq(tstr(held, "owner"), "u2");
    ck_assert_str_eq(tstr(placed, "held_by"), "u3");
    ck_assert_int_eq(tint(placed, "seq"), 9);
    ck_assert_int_eq(tint(placed, "epoch"), 1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(placed, "properties"), "count")), 41);
    ck_assert_str_eq(tstr(saved, "owner"), "u1"); /* its spawner */
    ck_assert(json_is_null(json_object_get(saved, "held_by")));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(ck, "manifests"), "crate_v1"));
    json_decref(ck);
    tenv_free(&e);
}
END_TEST

START_TEST(checkpoint_restore_seats_and_registry)
{
    struct tenv e;
    json_t *ck = build_room(&e);
    tenv_free(&e);

    /* another relay: u3 reconnects first, while the room loads */
    struct tenv f;
    tenv_init(&f);
    f.load_on_create = true;
    tenv_start(&f);
    struct relay_peer *c = tjoin(&f, "r", "u3", RELAY_JOIN_OK);
    struct relay_peer *x = tjoin(&f, "r", "newcomer", RELAY_JOIN_OK);
    struct tdrain d;
    tdrain(c, &d);
    ck_assert_uint_eq(json_array_size(d.msgs), 0); /* no WELCOME while loading */
    tdrain_clear(&d);
    struct relay_room *room = relay_hub_find_room(f.hub, "r");
    ck_assert(relay_room_loading(room));
    ck_assert_int_eq(relay_room_restore_checkpoint(room, ck, 3, f.now), 0);
    ck_assert(!relay_room_loading(room));
    tdrain(c, &d);
    json_t *w = tfind(&d, OP_WELCOME, 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(tstr(w, "host_id"), "u1"); /* the host stays host (in its grace) */
    ck_assert_int_eq(tint(w, "join_order"), 3);
    ck_assert(json_is_true(json_object_get(w, "resumed")));
    ck_assert_str_eq(tstr(w, "restored_from"), "checkpoint");
    ck_assert_int_eq(tint(w, "restored_version"), 3);
    json_t *pres = json_object_get(w, "presences");
    ck_assert_int_eq(json_array_size(pres), 4);
    ck_assert_str_eq(tstr(json_array_get(pres, 0), "user_id"), "u1");
    ck_assert(json_is_false(json_object_get(json_array_get(pres, 0), "connected")));
    ck_assert_str_eq(tstr(json_array_get(pres, 3), "user_id"), "newcomer");
    ck_assert_int_eq(tint(json_array_get(pres, 3), "join_order"), 4);
    tdrain_clear(&d);
    tdiscard(x);

    /* the registry is the same, owners and holders included */
    json_t *again = relay_room_checkpoint(room);
    ck_assert(json_equal(json_object_get(again, "objects"), json_object_get(ck, "objects")));
    ck_assert(json_equal(json_object_get(again, "manifests"), json_object_get(ck, "manifests")));
    ck_assert_int_gt(tint(again, "rev"), tint(ck, "rev"));
    json_decref(again);

    /* u1 comes back within the grace: resumed, still host */
    struct relay_peer *a = tjoin(&f, "r", "u1", RELAY_JOIN_RESUMED);
    tdrain(a, &d);
    w = tfind(&d, OP_WELCOME, 0);
    ck_assert_str_eq(tstr(w, "host_id"), "u1");
    ck_assert_int_eq(tint(w, "join_order"), 1);
    tdrain_clear(&d);

    /* u2 never comes back: its grace ends, its transient_held object goes (cleanup rules) */
    ttick(&f, f.cfg.grace_ms + 100);
    json_t *after = relay_room_checkpoint(room);
    ck_assert_ptr_null(obj(after, "held"));
    ck_assert_ptr_nonnull(obj(after, "placed"));
    ck_assert_int_eq(json_array_size(json_object_get(after, "presences")), 3);
    json_decref(after);
    json_decref(ck);
    tenv_free(&f);
}
END_TEST

START_TEST(checkpoint_restore_refuses_bad_input)
{
    struct tenv e;
    json_t *ck = build_room(&e);
    struct relay_room *room = relay_hub_find_room(e.hub, "r");
    /* not loading: refused, nothing changed */
    uint64_t changes = relay_room_changes(room);
    ck_assert_int_eq(relay_room_restore_checkpoint(room, ck, 1, e.now), -1);
    ck_assert_uint_eq(relay_room_changes(room), changes);
    tenv_free(&e);

    tenv_init(&e);
    e.load_on_create = true;
    tenv_start(&e);
    tjoin(&e, "r", "u9", RELAY_JOIN_OK);
    room = relay_hub_find_room(e.hub, "r");
    json_t *bad = json_pack("{ss}", "format", "something-else");
    ck_assert_int_eq(relay_room_restore_checkpoint(room, bad, 1, e.now), -1);
    json_decref(bad);
    bad = json_deep_copy(ck);
    json_object_set_new(bad, "objects", json_string("nope"));
    ck_assert_int_eq(relay_room_restore_checkpoint(room, bad, 1, e.now), -1);
    json_decref(bad);
    ck_assert(relay_room_loading(room)); /* still waiting: nothing was restored */
    /* a malformed entry is skipped, the rest restored */
    bad = json_deep_copy(ck);
    json_object_set_new(obj(bad, "placed"), "epoch", json_string("x"));
    ck_assert_int_eq(relay_room_restore_checkpoint(room, bad, -1, e.now), 0);
    json_t *got = relay_room_checkpoint(room);
    ck_assert_int_eq(json_array_size(json_object_get(got, "objects")), 2);
    json_decref(got);
    json_decref(bad);
    json_decref(ck);
    tenv_free(&e);
}
END_TEST

START_TEST(evict_and_freeze)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "r", "u1", RELAY_JOIN_OK);
    struct relay_peer *b = tjoin(&e, "r", "u2", RELAY_JOIN_OK);
    tdiscard(a);
    tdiscard(b);
    struct relay_room *room = relay_hub_find_room(e.hub, "r");
    uint64_t changes = relay_room_changes(room);
    relay_room_freeze(room);
    tsend(&e, a, MANIFEST);
    ck_assert_uint_eq(relay_room_changes(room), changes); /* dropped: not_ready */
    ck_assert_uint_eq(relay_room_counters(room)->drops[RELAY_DROP_NOT_READY], 1);
    unsigned saves = e.saves;
    relay_room_evict(room, RELAY_CLOSE_MOVED, "moved");
    ck_assert_ptr_null(relay_hub_find_room(e.hub, "r"));
    ck_assert_uint_eq(e.freed, 1);
    ck_assert_uint_eq(e.saves, saves); /* no cleanup, no save */
    ck_assert_int_eq(e.last_close_code, 1012);
    struct tdrain d;
    tdrain(b, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_MOVED);
    ck_assert_str_eq(d.close_reason, "moved");
    tdrain_clear(&d);
    ck_assert_ptr_null(relay_peer_room(a));
    relay_peer_leave(a, RELAY_LEAVE_DROPPED, e.now);
    relay_peer_leave(b, RELAY_LEAVE_CLEAN, e.now);
    ck_assert_uint_eq(relay_hub_peer_count(e.hub), 0);
    tenv_free(&e);
}
END_TEST

START_TEST(load_timeout_refuses_in_fleet_mode)
{
    struct tenv e;
    tenv_init(&e);
    e.load_on_create = true;
    e.cfg.load_timeout_refuses = true;
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "r", "u1", RELAY_JOIN_OK);
    ttick(&e, RELAY_LOAD_TIMEOUT_MS + 10);
    ck_assert_ptr_null(relay_hub_find_room(e.hub, "r"));
    struct tdrain d;
    tdrain(a, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_UNAVAIL);
    ck_assert_uint_eq(tcount(&d, OP_WELCOME), 0);
    tdrain_clear(&d);
    relay_peer_leave(a, RELAY_LEAVE_DROPPED, e.now);
    tenv_free(&e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_fleet");
    TCase *tc = tcase_create("lease");
    tcase_add_test(tc, lease_classify_answers);
    tcase_add_test(tc, lease_acquire_renew_schedule);
    tcase_add_test(tc, lease_expires_by_own_clock);
    tcase_add_test(tc, lease_held_and_lost);
    tcase_add_test(tc, lease_acquire_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoint");
    tcase_add_test(tc, checkpoint_holds_live_state);
    tcase_add_test(tc, checkpoint_restore_seats_and_registry);
    tcase_add_test(tc, checkpoint_restore_refuses_bad_input);
    tcase_add_test(tc, evict_and_freeze);
    tcase_add_test(tc, load_timeout_refuses_in_fleet_mode);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(suite)
