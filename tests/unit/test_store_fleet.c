/* test_store_fleet.c — the relay fleet's storage (store/fleet.h): the pure lease decisions
 * (acquire, idempotent acquire, renew, held, lost, expiry, fences never reused, release),
 * then the same rules through the SQLite backend with a controlled clock (now_ms), fenced
 * checkpoints, their saved_version, expiry and purge, through a group-commit store too. */
#include "store/fleet.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/test_store_util.h"

#define T0 1764000000000LL

static struct store_lease row(const char *holder, int64_t fence, int64_t expires)
{
    struct store_lease l;
    memset(&l, 0, sizeof l);
    snprintf(l.holder, sizeof l.holder, "%s", holder);
    l.fence = fence;
    l.expires_at_ms = expires;
    return l;
}

static struct store_lease_req lreq(const char *holder, int64_t ttl, int64_t fence)
{
    struct store_lease_req r = {.room_id = "r", .holder = holder, .ttl_ms = ttl, .fence = fence};
    return r;
}

START_TEST(test_decide_acquire)
{
    struct store_lease none = row("", 0, 0), next;
    struct store_lease_result out;
    struct store_lease_req a = lreq("relay-a", 5000, 0);
    /* no row: fence 1 */
    ck_assert_int_eq(store_lease_decide(&none, &a, T0, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 1);
    ck_assert_str_eq(next.holder, "relay-a");
    ck_assert_int_eq(next.expires_at_ms, T0 + 5000);
    ck_assert_int_eq(out.fence, 1);
    ck_assert_int_eq(out.expires_in_ms, 5000);
    /* the same holder again: same fence, later expiry */
    struct store_lease held = next;
    ck_assert_int_eq(store_lease_decide(&held, &a, T0 + 1000, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 1);
    ck_assert_int_eq(next.expires_at_ms, T0 + 6000);
    /* another holder while unexpired: held, told who and for how long */
    struct store_lease_req b = lreq("relay-b", 5000, 0);
    ck_assert_int_eq(store_lease_decide(&held, &b, T0 + 1000, &next, &out), STORE_LEASE_HELD);
    ck_assert_str_eq(out.holder, "relay-a");
    ck_assert_int_eq(out.expires_in_ms, 4000);
    ck_assert_int_eq(next.fence, 1); /* nothing to write */
    ck_assert_str_eq(next.holder, "relay-a");
    /* expired (the expiry instant itself counts as expired): a new fence */
    ck_assert_int_eq(store_lease_decide(&held, &b, T0 + 5000, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 2);
    ck_assert_str_eq(next.holder, "relay-b");
    /* released (holder cleared, fence kept): a new fence, also for the old holder */
    struct store_lease released = row("", 7, 0);
    ck_assert_int_eq(store_lease_decide(&released, &a, T0, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 8);
}
END_TEST

START_TEST(test_decide_renew)
{
    struct store_lease next;
    struct store_lease_result out;
    struct store_lease held = row("relay-a", 3, T0 + 100);
    struct store_lease_req renew = lreq("relay-a", 5000, 3);
    ck_assert_int_eq(store_lease_decide(&held, &renew, T0, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 3);
    ck_assert_int_eq(next.expires_at_ms, T0 + 5000);
    /* expired but not taken over: the fence still renews */
    ck_assert_int_eq(store_lease_decide(&held, &renew, T0 + 99999, &next, &out), STORE_LEASE_OK);
    ck_assert_int_eq(next.fence, 3);
    /* a stale or a future fence: lost */
    struct store_lease_req stale = lreq("relay-a", 5000, 2), future = lreq("relay-a", 5000, 4);
    ck_assert_int_eq(store_lease_decide(&held, &stale, T0, &next, &out), STORE_LEASE_LOST);
    ck_assert_int_eq(store_lease_decide(&held, &future, T0, &next, &out), STORE_LEASE_LOST);
    /* the right fence from another holder: lost */
    struct store_lease_req other = lreq("relay-b", 5000, 3);
    ck_assert_int_eq(store_lease_decide(&held, &other, T0, &next, &out), STORE_LEASE_LOST);
    /* released: the fence no longer renews */
    struct store_lease released = row("", 3, 0);
    ck_assert_int_eq(store_lease_decide(&released, &renew, T0, &next, &out), STORE_LEASE_LOST);
    /* no row at all */
    struct store_lease none = row("", 0, 0);
    ck_assert_int_eq(store_lease_decide(&none, &renew, T0, &next, &out), STORE_LEASE_LOST);
}
END_TEST

START_TEST(test_decide_release_and_fence)
{
    struct store_lease next;
    struct store_lease none = row("", 0, 0), held = row("relay-a", 4, T0 + 10);
    ck_assert_int_eq(store_lease_release_decide(&none, 1, &next), STORE_LEASE_NONE);
    ck_assert_int_eq(store_lease_release_decide(&held, 3, &next), STORE_LEASE_LOST);
    ck_assert_int_eq(store_lease_release_decide(&held, 4, &next), STORE_LEASE_OK);
    ck_assert_str_eq(next.holder, "");
    ck_assert_int_eq(next.fence, 4); /* the counter is kept */
    ck_assert_int_eq(store_lease_release_decide(&next, 4, &next), STORE_LEASE_NONE);
    /* checkpoints: the current fence of a held lease, expired or not */
    ck_assert(store_lease_fence_holds(&held, 4));
    ck_assert(!store_lease_fence_holds(&held, 3));
    ck_assert(!store_lease_fence_holds(&held, 0));
    struct store_lease released = row("", 4, 0);
    ck_assert(!store_lease_fence_holds(&released, 4));
    ck_assert(store_lease_live(&held, T0 + 9));
    ck_assert(!store_lease_live(&held, T0 + 10));
    ck_assert(!store_lease_live(&released, T0));
}
END_TEST

/* ---- through the SQLite backend ------------------------------------------------------------ */

static struct store_lease_result acquire(struct store *s, const char *room, const char *holder,
                                         int64_t fence, int64_t now, enum store_lease_outcome want)
{
    struct store_lease_req r = {.room_id = room, .holder = holder, .ttl_ms = 5000, .fence = fence};
    struct store_lease_result out;
    ck_assert_int_eq(store_lease_acquire(s, &r, now, &out), STORE_OK);
    ck_assert_int_eq(out.outcome, want);
    return out;
}

static enum store_lease_outcome put(struct store *s, const char *room, int64_t fence,
                                    const char *doc, int64_t now, struct store_ckpt *out)
{
    struct store_ckpt_req r = {
        .room_id = room, .fence = fence, .doc = doc, .doc_len = strlen(doc), .ttl_ms = 60000};
    ck_assert_int_eq(store_ckpt_put(s, &r, now, out), STORE_OK);
    return out->outcome;
}

START_TEST(test_sqlite_leases)
{
    struct store_lease_result got;
    enum store_lease_outcome o;
    ck_assert_int_eq(store_lease_get(tsu_s, "room-1", T0, &got), STORE_NOT_FOUND);
    ck_assert_int_eq(acquire(tsu_s, "room-1", "a", 0, T0, STORE_LEASE_OK).fence, 1);
    ck_assert_int_eq(acquire(tsu_s, "room-1", "b", 0, T0 + 1, STORE_LEASE_HELD).expires_in_ms,
                     4999);
    ck_assert_int_eq(store_lease_get(tsu_s, "room-1", T0 + 1, &got), STORE_OK);
    ck_assert_str_eq(got.holder, "a");
    ck_assert_int_eq(got.expires_in_ms, 4999);
    /* expiry by the given clock */
    ck_assert_int_eq(store_lease_get(tsu_s, "room-1", T0 + 5000, &got), STORE_NOT_FOUND);
    ck_assert_int_eq(acquire(tsu_s, "room-1", "b", 0, T0 + 5000, STORE_LEASE_OK).fence, 2);
    acquire(tsu_s, "room-1", "a", 1, T0 + 5001, STORE_LEASE_LOST);
    /* release, then the next holder: fence 3, never a reused one */
    ck_assert_int_eq(store_lease_release(tsu_s, "room-1", 1, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_LOST);
    ck_assert_int_eq(store_lease_release(tsu_s, "room-1", 2, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_OK);
    ck_assert_int_eq(store_lease_release(tsu_s, "room-1", 2, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_NONE);
    ck_assert_int_eq(store_lease_release(tsu_s, "nothing", 1, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_NONE);
    ck_assert_int_eq(acquire(tsu_s, "room-1", "a", 0, T0 + 6000, STORE_LEASE_OK).fence, 3);
    /* a second store on the same file (another thread's) sees the same lease */
    struct store *s2 = NULL;
    ck_assert_int_eq(store_open(tsu_path, &s2, tsu_err, sizeof tsu_err), STORE_OK);
    acquire(s2, "room-1", "b", 0, T0 + 6001, STORE_LEASE_HELD);
    acquire(s2, "room-1", "a", 3, T0 + 6001, STORE_LEASE_OK);
    store_close(s2);
    /* bad arguments are refused without a write */
    struct store_lease_req bad = {.room_id = "room-2", .holder = "a", .ttl_ms = 999};
    ck_assert_int_eq(store_lease_acquire(tsu_s, &bad, T0, &got), STORE_ERROR);
    bad.ttl_ms = 5000;
    bad.holder = "";
    ck_assert_int_eq(store_lease_acquire(tsu_s, &bad, T0, &got), STORE_ERROR);
    ck_assert_int_eq(store_lease_release(tsu_s, "room-2", 0, T0, &o), STORE_ERROR);
    ck_assert_int_eq(acquire(tsu_s, "room-2", "a", 0, T0, STORE_LEASE_OK).fence, 1);
}
END_TEST

START_TEST(test_sqlite_checkpoints)
{
    struct store_ckpt c, g;
    struct store_save_result res;
    enum store_lease_outcome o;
    /* no lease: lost, nothing stored */
    ck_assert_int_eq(put(tsu_s, "room-1", 1, "{\"a\":1}", T0, &c), STORE_LEASE_LOST);
    ck_assert_int_eq(store_ckpt_get(tsu_s, "room-1", T0, &g), STORE_NOT_FOUND);
    acquire(tsu_s, "room-1", "a", 0, T0, STORE_LEASE_OK);
    ck_assert_int_eq(put(tsu_s, "room-1", 1, "{\"a\":1}", T0, &c), STORE_LEASE_OK);
    ck_assert_int_eq(c.saved_version, -1);
    ck_assert_int_eq(c.bytes, 7);
    ck_assert_int_eq(c.checkpointed_at_ms, T0);
    /* a save, then a checkpoint names the saved version; neither touches the other */
    ck_assert_int_eq(tsu_save(tsu_s, "room-1", "{\"s\":1}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(put(tsu_s, "room-1", 1, "{\"a\":2}", T0 + 10, &c), STORE_LEASE_OK);
    ck_assert_int_eq(c.saved_version, 1);
    ck_assert_int_eq(tsu_current_version("room-1"), 1);
    ck_assert_int_eq(store_ckpt_get(tsu_s, "room-1", T0 + 10, &g), STORE_OK);
    ck_assert_str_eq(g.doc, "{\"a\":2}");
    ck_assert_int_eq(g.fence, 1);
    ck_assert_int_eq(g.saved_version, 1);
    ck_assert_int_eq(g.expires_in_ms, 60000);
    store_ckpt_clear(&g);
    ck_assert_ptr_null(g.doc);
    /* the lease expires, nobody takes over: still accepted; taken over: lost */
    ck_assert_int_eq(put(tsu_s, "room-1", 1, "{\"a\":3}", T0 + 5000, &c), STORE_LEASE_OK);
    ck_assert_int_eq(acquire(tsu_s, "room-1", "b", 0, T0 + 5000, STORE_LEASE_OK).fence, 2);
    ck_assert_int_eq(put(tsu_s, "room-1", 1, "{\"stale\":1}", T0 + 5001, &c), STORE_LEASE_LOST);
    ck_assert_int_eq(store_ckpt_delete(tsu_s, "room-1", 1, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_LOST);
    ck_assert_int_eq(store_ckpt_get(tsu_s, "room-1", T0 + 5001, &g), STORE_OK);
    ck_assert_str_eq(g.doc, "{\"a\":3}");
    store_ckpt_clear(&g);
    /* expiry (60 s after the write) and the purge by a later write of another room */
    ck_assert_int_eq(store_ckpt_get(tsu_s, "room-1", T0 + 5000 + 60000, &g), STORE_NOT_FOUND);
    acquire(tsu_s, "room-9", "z", 0, T0, STORE_LEASE_OK);
    ck_assert_int_eq(put(tsu_s, "room-9", 1, "{}", T0 + 70000, &c), STORE_LEASE_OK);
    ck_assert_int_eq(store_ckpt_delete(tsu_s, "room-1", 2, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_NONE); /* purged already */
    /* delete with the current fence */
    ck_assert_int_eq(store_ckpt_delete(tsu_s, "room-9", 1, T0, &o), STORE_OK);
    ck_assert_int_eq(o, STORE_LEASE_OK);
    ck_assert_int_eq(store_ckpt_get(tsu_s, "room-9", T0, &g), STORE_NOT_FOUND);
}
END_TEST

static Suite *store_fleet_suite(void)
{
    Suite *su = suite_create("store_fleet");
    TCase *pure = tcase_create("decisions");
    tcase_add_test(pure, test_decide_acquire);
    tcase_add_test(pure, test_decide_renew);
    tcase_add_test(pure, test_decide_release_and_fence);
    suite_add_tcase(su, pure);
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, tsu_setup, tsu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sqlite_leases);
    tcase_add_test(tc, test_sqlite_checkpoints);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_SUITE(store_fleet_suite)
