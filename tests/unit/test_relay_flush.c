/* test_relay_flush.c — leading-edge forwarding of player transforms (relay/flush.c): an
 * on-time transform goes out in the next flush (no wait for the tick), one batched frame
 * per recipient per flush, never again at the tick; the rate cap (tick_hz per sender, burst
 * 2) still holds and what arrives faster is coalesced (latest wins) and sent at the tick. */
#include <check.h>
#include <stdio.h>

#include "opcodes.h"
#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

#define TICK_MS 50

struct ffix {
    struct tenv e;
    struct relay_peer *a, *b, *c;
};

static void fsetup(struct ffix *f)
{
    tenv_init(&f->e);
    f->e.cfg.in_rate_per_s = 100000;
    tenv_start(&f->e);
    f->a = tjoin(&f->e, "fl", "u1", RELAY_JOIN_OK);
    f->b = tjoin(&f->e, "fl", "u2", RELAY_JOIN_OK);
    f->c = tjoin(&f->e, "fl", "u3", RELAY_JOIN_OK);
    ttick(&f->e, TICK_MS);
    tdiscard(f->a);
    tdiscard(f->b);
    tdiscard(f->c);
}

static void ftransform(struct ffix *f, struct relay_peer *p, int seq)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"op\":30,\"seq\":%d,\"t\":1.5,\"head\":{\"p\":[0,1.6,0],\"r\":[0,0,0,1]}}", seq);
    tsend(&f->e, p, buf);
}

static const struct relay_counters *frc(struct ffix *f)
{
    return relay_room_counters(relay_hub_find_room(f->e.hub, "fl"));
}

/* Transforms b received (drained), and the seq of the last one (-1: none). */
static size_t got(struct relay_peer *p, size_t *frames, long long *last_seq)
{
    struct tdrain d;
    tdrain(p, &d);
    size_t n = tcount(&d, OP_REP_TRANSFORM);
    if (frames)
        *frames = d.frames;
    if (last_seq)
        *last_seq = n ? tint(tfind(&d, OP_REP_TRANSFORM, n - 1), "seq") : -1;
    tdrain_clear(&d);
    return n;
}

START_TEST(flush_sends_on_time_transform_at_once)
{
    struct ffix f;
    fsetup(&f);
    ck_assert(!relay_hub_flush_wanted(f.e.hub));
    ftransform(&f, f.a, 1);
    ck_assert(relay_hub_flush_wanted(f.e.hub));
    size_t frames;
    long long seq;
    ck_assert_uint_eq(got(f.b, &frames, &seq), 0); /* nothing before the flush */
    relay_hub_flush(f.e.hub, f.e.now);
    ck_assert(!relay_hub_flush_wanted(f.e.hub));
    ck_assert_uint_eq(got(f.b, &frames, &seq), 1);
    ck_assert_uint_eq(frames, 1);
    ck_assert_int_eq(seq, 1);
    ck_assert_uint_eq(got(f.a, NULL, NULL), 0); /* never echoed */
    ck_assert_uint_eq(got(f.c, NULL, NULL), 1);
    ttick(&f.e, TICK_MS); /* not again at the tick */
    ck_assert_uint_eq(got(f.b, NULL, NULL), 0);
    ck_assert_uint_eq(frc(&f)->drops[RELAY_DROP_COALESCED], 0);
    /* two senders in one pass: one frame per recipient holding both */
    ftransform(&f, f.a, 2);
    ftransform(&f, f.c, 1);
    relay_hub_flush(f.e.hub, f.e.now);
    ck_assert_uint_eq(got(f.b, &frames, NULL), 2);
    ck_assert_uint_eq(frames, 1);
    ck_assert_uint_eq(got(f.a, &frames, NULL), 1);
    ck_assert_uint_eq(got(f.c, &frames, NULL), 1);
    /* a flush with nothing pending sends nothing */
    relay_hub_flush(f.e.hub, f.e.now);
    ck_assert_uint_eq(got(f.b, NULL, NULL), 0);
    tenv_free(&f.e);
}
END_TEST

START_TEST(flush_keeps_rate_cap_and_coalescing)
{
    struct ffix f;
    fsetup(&f);
    size_t frames;
    long long seq;
    /* a burst in one instant: two go out early (the bucket's burst), the rest coalesce and
     * the latest goes out at the tick */
    for (int i = 1; i <= 6; i++) {
        ftransform(&f, f.a, i);
        relay_hub_flush(f.e.hub, f.e.now);
    }
    ck_assert_uint_eq(got(f.b, &frames, &seq), 2);
    ck_assert_int_eq(seq, 2);
    ck_assert(relay_hub_flush_wanted(f.e.hub)); /* seq 6 waits */
    ttick(&f.e, TICK_MS);
    ck_assert_uint_eq(got(f.b, &frames, &seq), 1);
    ck_assert_int_eq(seq, 6);
    ck_assert_uint_eq(frc(&f)->drops[RELAY_DROP_COALESCED], 3); /* 3, 4, 5 */
    /* 100 Hz for 2 s (flush after every message): at most tick_hz per second + the burst */
    size_t total = 0;
    int s = 100;
    for (int tick = 0; tick < 40; tick++) {
        for (int k = 0; k < 5; k++) {
            ftransform(&f, f.a, s++);
            relay_hub_flush(f.e.hub, f.e.now);
            total += got(f.b, NULL, NULL);
            f.e.now += 10;
        }
        f.e.now -= 50;
        ttick(&f.e, TICK_MS);
        total += got(f.b, NULL, &seq);
    }
    ck_assert_uint_le(total, 2 * 20 + 2);
    ck_assert_uint_ge(total, 2 * 20 - 2);
    ck_assert_int_eq(seq, s - 1); /* the latest always reaches them */
    /* a 20 Hz sender (after a pause): every message goes out at its flush, none waits for
     * the tick */
    ttick(&f.e, 1000);
    tdiscard(f.b);
    for (int i = 0; i < 40; i++) {
        f.e.now += 20;
        ftransform(&f, f.a, s++);
        relay_hub_flush(f.e.hub, f.e.now);
        ck_assert_uint_eq(got(f.b, NULL, &seq), 1);
        ck_assert_int_eq(seq, s - 1);
        f.e.now -= 20;
        ttick(&f.e, TICK_MS);
        ck_assert_uint_eq(got(f.b, NULL, NULL), 0);
    }
    tenv_free(&f.e);
}
END_TEST

static Suite *relay_flush_suite(void)
{
    Suite *s = suite_create("relay_flush");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, flush_sends_on_time_transform_at_once);
    tcase_add_test(tc, flush_keeps_rate_cap_and_coalescing);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_flush_suite)
