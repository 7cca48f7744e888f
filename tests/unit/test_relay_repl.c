/* test_relay_repl.c — the relay's replication plane (issue 4): coalescing, one batched
 * frame per recipient per tick, stale and epoch drops, authority, tier routing, downshift
 * of idle and far objects, backlog bounds, late-join snapshots (chunk bound, reassembly,
 * retry, live after the snapshot), counters. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

#define MANIFEST                                                                                   \
    "{\"op\":25,\"manifest_id\":\"crate_v1\",\"properties\":{"                                     \
    "\"color\":{\"tier\":\"reliable_on_change\"},"                                                 \
    "\"label\":{\"tier\":\"snapshot_only\"},"                                                      \
    "\"wobble\":{\"tier\":\"high_rate_unreliable\"}}}"
#define TICK_MS 50

struct fix {
    struct tenv e;
    struct relay_peer *a, *b, *c;
};

static void sendf(struct fix *f, struct relay_peer *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void sendf(struct fix *f, struct relay_peer *p, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tsend(&f->e, p, buf);
}

static void transform(struct fix *f, struct relay_peer *p, int seq, double x)
{
    sendf(f, p,
          "{\"op\":30,\"seq\":%d,\"t\":123.5,\"head\":{\"p\":[%g,1.6,0],\"r\":[0,0,0,1]},"
          "\"left\":{\"p\":[0.2,1,0],\"r\":[0,0,0,1]}}",
          seq, x);
}

static void rep_object(struct fix *f, struct relay_peer *p, const char *id, int seq, int epoch)
{
    sendf(f, p,
          "{\"op\":31,\"object_id\":\"%s\",\"seq\":%d,\"epoch\":%d,\"transform\":{"
          "\"position\":[%d,0,0],\"rotation\":[0,0,0,1]}}",
          id, seq, epoch, seq);
}

static void rep_prop(struct fix *f, struct relay_peer *p, int seq, int epoch, const char *name,
                     const char *value)
{
    sendf(f, p,
          "{\"op\":32,\"object_id\":\"box\",\"seq\":%d,\"epoch\":%d,\"name\":\"%s\","
          "\"value\":%s}",
          seq, epoch, name, value);
}

/* a (host), b, c; manifest; a spawned "box" (placed_room) and holds it (epoch 1). */
static void setup(struct fix *f)
{
    tenv_init(&f->e);
    f->e.cfg.in_rate_per_s = 100000;
    tenv_start(&f->e);
    f->a = tjoin(&f->e, "rep", "u1", RELAY_JOIN_OK);
    f->b = tjoin(&f->e, "rep", "u2", RELAY_JOIN_OK);
    f->c = tjoin(&f->e, "rep", "u3", RELAY_JOIN_OK);
    tsend(&f->e, f->a, MANIFEST);
    sendf(f, f->a,
          "{\"op\":20,\"object_id\":\"box\",\"manifest_id\":\"crate_v1\","
          "\"persist_mode\":\"placed_room\",\"transform\":{\"position\":[0,0,0],"
          "\"rotation\":[0,0,0,1]}}");
    sendf(f, f->a, "{\"op\":10,\"object_id\":\"box\"}");
    ttick(&f->e, TICK_MS);
    tdiscard(f->a);
    tdiscard(f->b);
    tdiscard(f->c);
}

static const struct relay_counters *rc(struct fix *f)
{
    return relay_room_counters(relay_hub_find_room(f->e.hub, "rep"));
}

START_TEST(transform_coalesced_latest_wins)
{
    struct fix f;
    setup(&f);
    transform(&f, f.a, 1, 1.0);
    transform(&f, f.a, 2, 2.0);
    transform(&f, f.a, 3, 3.0);
    struct tdrain d;
    tdrain(f.b, &d);
    ck_assert_uint_eq(d.frames, 0); /* nothing before the tick */
    tdrain_clear(&d);
    ttick(&f.e, TICK_MS);
    tdrain(f.b, &d);
    ck_assert_uint_eq(d.frames, 1);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 1);
    json_t *m = tfind(&d, OP_REP_TRANSFORM, 0);
    ck_assert_int_eq(tint(m, "seq"), 3);
    ck_assert_str_eq(tstr(m, "from"), "u1");
    ck_assert(json_real_value(json_object_get(m, "t")) == 123.5); /* echoed unchanged */
    ck_assert(json_number_value(
                  json_array_get(json_object_get(json_object_get(m, "head"), "p"), 0)) == 3.0);
    ck_assert_ptr_nonnull(json_object_get(m, "left"));
    tdrain_clear(&d);
    tdrain(f.a, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 0); /* never echoed to the sender */
    tdrain_clear(&d);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_COALESCED], 2);
    /* stale: a seq not above the last accepted is dropped */
    transform(&f, f.a, 3, 9.0);
    transform(&f, f.a, 2, 9.0);
    ttick(&f.e, TICK_MS);
    tdrain(f.b, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 0);
    tdrain_clear(&d);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_STALE], 2);
    /* nothing new, nothing sent: the rate is capped at one per tick per stream */
    tdiscard(f.c);
    transform(&f, f.a, 4, 4.0);
    ttick(&f.e, TICK_MS);
    ttick(&f.e, TICK_MS);
    tdrain(f.c, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 1);
    tdrain_clear(&d);
    /* a new connection of the same user is a new stream */
    relay_peer_leave(f.a, RELAY_LEAVE_DROPPED, f.e.now);
    f.a = tjoin(&f.e, "rep", "u1", RELAY_JOIN_RESUMED);
    tdiscard(f.b);
    transform(&f, f.a, 1, 1.0);
    ttick(&f.e, TICK_MS);
    tdrain(f.b, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 1);
    tdrain_clear(&d);
    tenv_free(&f.e);
}
END_TEST

START_TEST(one_batched_frame_per_recipient)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    struct relay_peer *p[20];
    char uid[16], buf[256];
    for (int i = 0; i < 20; i++) {
        snprintf(uid, sizeof uid, "u%02d", i);
        p[i] = tjoin(&e, "big", uid, RELAY_JOIN_OK);
    }
    for (int i = 0; i < 20; i++)
        tdiscard(p[i]);
    for (int round = 1; round <= 3; round++) {
        for (int i = 0; i < 20; i++) {
            snprintf(buf, sizeof buf,
                     "{\"op\":30,\"seq\":%d,\"head\":{\"p\":[%d,1.6,0],"
                     "\"r\":[0,0,0,1]}}",
                     round, i);
            tsend(&e, p[i], buf);
        }
        ttick(&e, TICK_MS);
        for (int i = 0; i < 20; i++) {
            struct tdrain d;
            tdrain(p[i], &d);
            ck_assert_uint_eq(d.frames, 1);
            ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 19);
            tdrain_clear(&d);
        }
    }
    const struct relay_counters *c = relay_room_counters(relay_hub_find_room(e.hub, "big"));
    ck_assert_uint_eq(c->msgs_out_by_op[OP_REP_TRANSFORM], 3 * 20 * 19);
    ck_assert_uint_eq(c->msgs_in_by_op[OP_REP_TRANSFORM], 3 * 20);
    tenv_free(&e);
}
END_TEST

START_TEST(object_authority_epoch_stale)
{
    struct fix f;
    setup(&f);
    rep_object(&f, f.a, "box", 1, 1);
    rep_object(&f, f.b, "box", 2, 1); /* not the owner */
    rep_object(&f, f.a, "box", 3, 0); /* old epoch */
    ttick(&f.e, TICK_MS);
    struct tdrain d;
    tdrain(f.c, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_OBJECT), 1);
    json_t *m = tfind(&d, OP_REP_OBJECT, 0);
    ck_assert_int_eq(tint(m, "seq"), 1);
    ck_assert_int_eq(tint(m, "epoch"), 1);
    ck_assert_str_eq(tstr(m, "from"), "u1");
    tdrain_clear(&d);
    tdrain(f.b, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "not_owner");
    ck_assert_int_eq(tint(tfind(&d, OP_ERROR, 0), "cause_op"), OP_REP_OBJECT);
    tdrain_clear(&d);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_EPOCH], 1);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_NOT_OWNER], 1);
    /* transfer: a releases (epoch 2), b takes it (epoch 3) */
    sendf(&f, f.a, "{\"op\":13,\"object_id\":\"box\"}");
    sendf(&f, f.b, "{\"op\":10,\"object_id\":\"box\"}");
    tdrain(f.b, &d);
    ck_assert_int_eq(tint(tfind(&d, OP_OWNERSHIP_GRANTED, 0), "epoch"), 3);
    tdrain_clear(&d);
    rep_object(&f, f.a, "box", 9, 1); /* in flight from the previous owner */
    rep_object(&f, f.b, "box", 1, 2); /* an epoch the new owner never had */
    rep_object(&f, f.b, "box", 5, 3);
    rep_object(&f, f.b, "box", 5, 3); /* stale */
    ttick(&f.e, TICK_MS);
    tdrain(f.c, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_OBJECT), 1);
    ck_assert_str_eq(tstr(tfind(&d, OP_REP_OBJECT, 0), "from"), "u2");
    ck_assert_int_eq(tint(tfind(&d, OP_REP_OBJECT, 0), "seq"), 5);
    tdrain_clear(&d);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_EPOCH], 2);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_STALE], 1);
    /* the registry follows what was accepted */
    json_t *doc = relay_room_export(relay_hub_find_room(f.e.hub, "rep"));
    json_t *o = json_array_get(json_object_get(doc, "objects"), 0);
    ck_assert(json_number_value(json_array_get(
                  json_object_get(json_object_get(o, "transform"), "position"), 0)) == 5.0);
    ck_assert_int_eq(tint(o, "seq"), 5);
    json_decref(doc);
    tenv_free(&f.e);
}
END_TEST

START_TEST(property_tiers)
{
    struct fix f;
    setup(&f);
    rep_prop(&f, f.a, 1, 1, "color", "\"#000001\"");
    rep_prop(&f, f.a, 2, 1, "color", "\"#000002\"");
    rep_prop(&f, f.a, 3, 1, "color", "\"#000003\"");
    rep_prop(&f, f.a, 4, 1, "color", "\"#000003\""); /* no change: not fanned out */
    rep_prop(&f, f.a, 5, 1, "label", "\"tools\"");   /* snapshot_only */
    rep_prop(&f, f.a, 6, 1, "wobble", "0.1");
    rep_prop(&f, f.a, 7, 1, "wobble", "0.2");
    rep_prop(&f, f.a, 8, 1, "wobble", "0.3");
    rep_prop(&f, f.a, 9, 1, "secret", "1");       /* undeclared */
    rep_prop(&f, f.a, 8, 1, "color", "\"#bad\""); /* stale */
    ttick(&f.e, TICK_MS);
    struct tdrain d;
    tdrain(f.b, &d);
    ck_assert_uint_eq(d.frames, 1);
    ck_assert_uint_eq(tcount(&d, OP_REP_PROPERTY), 4);
    const char *want[] = {"#000001", "#000002", "#000003"};
    for (size_t i = 0; i < 3; i++) {
        json_t *m = tfind(&d, OP_REP_PROPERTY, i); /* reliable ones first, in order */
        ck_assert_str_eq(tstr(m, "name"), "color");
        ck_assert_str_eq(tstr(m, "value"), want[i]);
        ck_assert_str_eq(tstr(m, "from"), "u1");
    }
    json_t *w = tfind(&d, OP_REP_PROPERTY, 3);
    ck_assert_str_eq(tstr(w, "name"), "wobble");
    ck_assert(json_number_value(json_object_get(w, "value")) == 0.3);
    tdrain_clear(&d);
    tdrain(f.a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "undeclared");
    ck_assert_uint_eq(tcount(&d, OP_REP_PROPERTY), 0);
    tdrain_clear(&d);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_UNDECLARED], 1);
    ck_assert_uint_eq(rc(&f)->drops[RELAY_DROP_STALE], 1);
    /* the registry has every accepted value, snapshot_only included */
    json_t *doc = relay_room_export(relay_hub_find_room(f.e.hub, "rep"));
    json_t *props =
        json_object_get(json_array_get(json_object_get(doc, "objects"), 0), "properties");
    ck_assert_str_eq(tstr(props, "label"), "tools");
    ck_assert_str_eq(tstr(props, "color"), "#000003");
    ck_assert(json_number_value(json_object_get(props, "wobble")) == 0.3);
    json_decref(doc);
    tenv_free(&f.e);
}
END_TEST

/* Over 20 ticks the owner moves the object every tick: how many updates each recipient
 * gets, for a held object near, held far, and idle. */
static size_t over_20_ticks(struct fix *f, struct relay_peer *from, struct relay_peer *to,
                            const char *id, int epoch, int *seq)
{
    size_t got = 0;
    for (int i = 0; i < 20; i++) {
        (*seq)++;
        rep_object(f, from, id, *seq, epoch);
        ttick(&f->e, TICK_MS);
        struct tdrain d;
        tdrain(to, &d);
        got += tcount(&d, OP_REP_OBJECT);
        tdrain_clear(&d);
    }
    return got;
}

START_TEST(downshift_idle_and_far)
{
    struct fix f;
    setup(&f);
    /* b's head near the box (x ~ 0..20 as it moves), c's far away */
    sendf(&f, f.b, "{\"op\":30,\"seq\":1,\"head\":{\"p\":[10,0,0],\"r\":[0,0,0,1]}}");
    sendf(&f, f.c, "{\"op\":30,\"seq\":1,\"head\":{\"p\":[10,0,500],\"r\":[0,0,0,1]}}");
    ttick(&f.e, TICK_MS);
    tdiscard(f.a);
    tdiscard(f.b);
    tdiscard(f.c);
    int seq = 0;
    /* held, near b: every tick (20 Hz); far from c: idle_hz (4 of 20 ticks at 20 Hz) */
    size_t near = 0, far = 0;
    for (int i = 0; i < 20; i++) {
        seq++;
        sendf(&f, f.a,
              "{\"op\":31,\"object_id\":\"box\",\"seq\":%d,\"epoch\":1,\"transform\":{"
              "\"position\":[10,0,0],\"rotation\":[0,0,0,1]}}",
              seq);
        ttick(&f.e, TICK_MS);
        struct tdrain d;
        tdrain(f.b, &d);
        near += tcount(&d, OP_REP_OBJECT);
        tdrain_clear(&d);
        tdrain(f.c, &d);
        far += tcount(&d, OP_REP_OBJECT);
        tdrain_clear(&d);
    }
    ck_assert_uint_eq(near, 20);
    ck_assert_uint_eq(far, 4);
    /* idle (released: the host owns it, nobody holds it): downshifted for everyone */
    sendf(&f, f.a, "{\"op\":13,\"object_id\":\"box\"}");
    tdiscard(f.b);
    size_t idle = over_20_ticks(&f, f.a, f.b, "box", 2, &seq);
    ck_assert_uint_eq(idle, 4);
    /* the downshifted copy is the latest value */
    for (int i = 0; i < 5; i++) {
        seq++;
        rep_object(&f, f.a, "box", seq, 2);
        ttick(&f.e, TICK_MS);
    }
    struct tdrain d;
    tdrain(f.b, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_OBJECT), 1);
    ck_assert_int_ge(tint(tfind(&d, OP_REP_OBJECT, 0), "seq"), seq - 4);
    tdrain_clear(&d);
    tenv_free(&f.e);
}
END_TEST

START_TEST(backlog_bounded)
{
    struct fix f;
    tenv_init(&f.e);
    f.e.cfg.in_rate_per_s = 100000;
    f.e.cfg.outbox_max_bytes = 64 * 1024;
    tenv_start(&f.e);
    f.a = tjoin(&f.e, "rep", "u1", RELAY_JOIN_OK);
    f.b = tjoin(&f.e, "rep", "u2", RELAY_JOIN_OK);
    f.c = tjoin(&f.e, "rep", "u3", RELAY_JOIN_OK);
    tsend(&f.e, f.a, MANIFEST);
    sendf(&f, f.a,
          "{\"op\":20,\"object_id\":\"box\",\"manifest_id\":\"crate_v1\","
          "\"persist_mode\":\"placed_room\",\"held\":true}");
    tdiscard(f.a);
    tdiscard(f.b);
    tdiscard(f.c);
    /* b never drains: after outbox_skip_frames frames, transforms are not queued */
    for (int i = 1; i <= 100; i++) {
        transform(&f, f.a, i, 0.0);
        ttick(&f.e, TICK_MS);
        tdiscard(f.c); /* c keeps up */
    }
    ck_assert_uint_le(relay_peer_queued_bytes(f.b), 64 * 1024);
    ck_assert_uint_ge(rc(&f)->drops[RELAY_DROP_SLOW], 90);
    ck_assert_uint_eq(f.e.closing, 0);
    struct tdrain d;
    tdrain(f.b, &d);
    ck_assert_uint_eq(d.frames, f.e.cfg.outbox_skip_frames);
    ck_assert(!d.closed);
    tdrain_clear(&d);
    /* reliable messages are never dropped: too far behind, b is closed */
    char big[2100];
    memset(big, 'x', 2000);
    big[2000] = '\0';
    for (int i = 1; i <= 60 && relay_peer_room(f.b); i++) {
        char val[2200];
        snprintf(val, sizeof val, "\"%s%d\"", big, i);
        rep_prop(&f, f.a, i, 0, "color", val);
        ttick(&f.e, TICK_MS);
        tdiscard(f.c);
    }
    /* the transport is told at once (it must not wait for b's socket to drain) */
    ck_assert_uint_eq(f.e.closing, 1);
    ck_assert_int_eq(f.e.last_close_code, RELAY_CLOSE_SLOW);
    ck_assert_str_eq(f.e.last_close_reason, "slow_consumer");
    ck_assert_uint_eq(relay_peer_queued_bytes(f.b), 0); /* its backlog is dropped */
    tdrain(f.b, &d);
    ck_assert(d.closed);
    ck_assert_int_eq(d.close_code, RELAY_CLOSE_SLOW);
    ck_assert_str_eq(d.close_reason, "slow_consumer");
    tdrain_clear(&d);
    /* c kept everything */
    relay_peer_leave(f.b, RELAY_LEAVE_DROPPED, f.e.now);
    ck_assert_uint_eq(relay_room_seat_count(relay_hub_find_room(f.e.hub, "rep")), 3);
    tenv_free(&f.e);
}
END_TEST

/* Reassembles chunks into {"manifests","objects"}; checks each chunk's envelope. */
static json_t *reassemble(const struct tdrain *d, long long *snapshot, size_t *nchunks)
{
    json_t *doc = json_pack("{s{}s[]}", "manifests", "objects");
    size_t n = tcount(d, OP_SNAPSHOT_CHUNK);
    *nchunks = n;
    for (size_t i = 0; i < n; i++) {
        json_t *c = tfind(d, OP_SNAPSHOT_CHUNK, i);
        ck_assert_int_eq(tint(c, "index"), (long long)i);
        ck_assert_int_eq(tint(c, "count"), (long long)n);
        *snapshot = tint(c, "snapshot");
        json_object_update(json_object_get(doc, "manifests"), json_object_get(c, "manifests"));
        json_array_extend(json_object_get(doc, "objects"), json_object_get(c, "objects"));
    }
    return doc;
}

START_TEST(snapshot_chunks_reassembly_retry)
{
    struct fix f;
    setup(&f);
    char label[400];
    memset(label, 'L', 300);
    label[300] = '\0';
    for (int i = 0; i < 400; i++)
        sendf(&f, f.a,
              "{\"op\":20,\"object_id\":\"obj-%03d\",\"manifest_id\":\"crate_v1\","
              "\"persist_mode\":\"%s\",\"transform\":{\"position\":[%d,0,0],"
              "\"rotation\":[0,0,0,1]},\"properties\":{\"label\":\"%s-%d\","
              "\"color\":\"#%06d\"}}",
              i, i % 3 ? "placed_room" : "placed_saved", i, label, i, i);
    sendf(&f, f.b, "{\"op\":10,\"object_id\":\"obj-007\"}");
    ttick(&f.e, TICK_MS);
    struct relay_peer *late = tjoin(&f.e, "rep", "u9", RELAY_JOIN_OK);
    tdiscard(f.a);
    /* before its snapshot, the late joiner gets no object-plane traffic */
    rep_object(&f, f.a, "box", 1, 1);
    ttick(&f.e, TICK_MS);
    struct tdrain d;
    tdrain(late, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_OBJECT), 0);
    ck_assert_int_eq(tint(json_array_get(d.msgs, 0), "op"), OP_WELCOME);
    tdrain_clear(&d);
    tsend(&f.e, late, "{\"op\":40}");
    json_t *reg = relay_room_export(relay_hub_find_room(f.e.hub, "rep")); /* as snapshotted */
    rep_object(&f, f.a, "box", 2, 1);
    ttick(&f.e, TICK_MS);
    tdrain(late, &d);
    ck_assert_uint_ge(tcount(&d, OP_SNAPSHOT_CHUNK), 8);
    ck_assert_uint_le(d.max_frame, RELAY_SNAPSHOT_FRAME_MAX); /* every chunk frame bounded */
    /* order: chunks, DONE, then live (never a live message before the snapshot) */
    size_t i, done_at = 0;
    json_t *m;
    json_array_foreach(d.msgs, i, m)
    {
        if (tint(m, "op") == OP_SNAPSHOT_DONE)
            done_at = i;
        if (tint(m, "op") == OP_REP_OBJECT)
            ck_assert_uint_gt(i, done_at);
    }
    ck_assert_uint_gt(done_at, 0);
    json_t *done = tfind(&d, OP_SNAPSHOT_DONE, 0);
    long long sid = 0;
    size_t nchunks = 0;
    json_t *doc = reassemble(&d, &sid, &nchunks);
    ck_assert_int_eq(tint(done, "chunks"), (long long)nchunks);
    ck_assert_int_eq(tint(done, "objects"), 401);
    ck_assert_int_eq(tint(done, "manifests"), 1);
    ck_assert_int_eq(tint(done, "snapshot"), sid);
    ck_assert_int_gt(tint(done, "watermark"), 400);
    /* reassembly gives exactly the registry */
    ck_assert(json_equal(json_object_get(doc, "manifests"), json_object_get(reg, "manifests")));
    json_t *objs = json_object_get(doc, "objects");
    ck_assert_uint_eq(json_array_size(objs), json_array_size(json_object_get(reg, "objects")));
    json_array_foreach(objs, i, m)
    {
        json_t *r = json_array_get(json_object_get(reg, "objects"), i);
        json_t *copy = json_deep_copy(m);
        ck_assert_ptr_nonnull(json_object_get(copy, "epoch"));
        json_object_del(copy, "epoch"); /* live field, not part of the save document */
        ck_assert_msg(json_equal(copy, r), "object %zu differs", i);
        json_decref(copy);
    }
    json_t *o7 = json_array_get(objs, 8); /* box is first, obj-007 ninth */
    ck_assert_str_eq(tstr(o7, "object_id"), "obj-007");
    ck_assert_str_eq(tstr(o7, "held_by"), "u2");
    ck_assert_int_eq(tint(o7, "epoch"), 1);
    json_decref(reg);
    /* once the snapshot is out, live updates follow */
    struct tdrain d2;
    rep_object(&f, f.a, "box", 3, 1);
    ttick(&f.e, TICK_MS);
    tdrain(late, &d2);
    ck_assert_uint_eq(tcount(&d2, OP_REP_OBJECT), 1);
    tdrain_clear(&d2);
    /* retry: chunks 1 and 3 again, byte for byte, then DONE */
    const char *c1 = json_string_value(json_array_get(d.frame_list, 1));
    char *c1copy = strdup(c1);
    tdrain_clear(&d);
    sendf(&f, late, "{\"op\":40,\"snapshot\":%lld,\"chunks\":[1,3]}", sid);
    tdrain(late, &d);
    ck_assert_uint_eq(tcount(&d, OP_SNAPSHOT_CHUNK), 2);
    ck_assert_uint_eq(tcount(&d, OP_SNAPSHOT_DONE), 1);
    ck_assert_str_eq(json_string_value(json_array_get(d.frame_list, 0)), c1copy);
    ck_assert_int_eq(tint(tfind(&d, OP_SNAPSHOT_CHUNK, 1), "index"), 3);
    free(c1copy);
    tdrain_clear(&d);
    /* a chunk number out of range, an unknown snapshot, an expired one */
    sendf(&f, late, "{\"op\":40,\"snapshot\":%lld,\"chunks\":[%zu]}", sid, nchunks);
    sendf(&f, late, "{\"op\":40,\"snapshot\":%lld,\"chunks\":[0]}", sid + 100);
    tdrain(late, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "bad_field");
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 1), "code"), "unknown_snapshot");
    tdrain_clear(&d);
    ttick(&f.e, f.e.cfg.snapshot_retain_ms + 1);
    sendf(&f, late, "{\"op\":40,\"snapshot\":%lld,\"chunks\":[0]}", sid);
    tdrain(late, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "unknown_snapshot");
    tdrain_clear(&d);
    json_decref(doc);
    tenv_free(&f.e);
}
END_TEST

START_TEST(snapshot_of_empty_room_and_object_bound)
{
    struct tenv e;
    tenv_init(&e);
    tenv_start(&e);
    struct relay_peer *a = tjoin(&e, "empty", "u1", RELAY_JOIN_OK);
    tsend(&e, a, "{\"op\":40}");
    struct tdrain d;
    tdrain(a, &d);
    ck_assert_uint_eq(tcount(&d, OP_SNAPSHOT_CHUNK), 1);
    ck_assert_int_eq(tint(tfind(&d, OP_SNAPSHOT_DONE, 0), "objects"), 0);
    tdrain_clear(&d);
    /* an object that could not fit one chunk is refused */
    tsend(&e, a, MANIFEST);
    static char buf[20000];
    char *big = malloc(17000);
    memset(big, 'x', 16999);
    big[16999] = '\0';
    snprintf(buf, sizeof buf,
             "{\"op\":20,\"object_id\":\"huge\",\"manifest_id\":\"crate_v1\","
             "\"persist_mode\":\"placed_room\",\"properties\":{\"label\":\"%s\"}}",
             big);
    free(big);
    tsend(&e, a, buf);
    tdrain(a, &d);
    ck_assert_str_eq(tstr(tfind(&d, OP_ERROR, 0), "code"), "too_large");
    ck_assert_uint_eq(tcount(&d, OP_OBJECT_SPAWN), 0);
    tdrain_clear(&d);
    tenv_free(&e);
}
END_TEST

START_TEST(counters_and_frames)
{
    struct fix f;
    setup(&f);
    const struct relay_counters *c = rc(&f);
    uint64_t in0 = c->msgs_in, bytes0 = c->bytes_in;
    transform(&f, f.a, 1, 0.0);
    ck_assert_uint_eq(c->msgs_in, in0 + 1);
    ck_assert_uint_gt(c->bytes_in, bytes0);
    uint64_t out0 = c->msgs_out, bout0 = c->bytes_out;
    ttick(&f.e, TICK_MS);
    ck_assert_uint_eq(c->msgs_out, out0 + 2);
    ck_assert_uint_gt(c->bytes_out, bout0);
    ck_assert_uint_ge(relay_hub_counters(f.e.hub)->msgs_out, c->msgs_out);
    /* per connection */
    const struct relay_peer_stats *sa = relay_peer_stats(f.a), *sb = relay_peer_stats(f.b);
    ck_assert_uint_ge(sa->msgs_in, 1);
    ck_assert_uint_gt(sa->bytes_in, 0);
    ck_assert_uint_ge(sb->msgs_out, 1);
    ck_assert_uint_gt(sb->bytes_out, 0);
    transform(&f, f.a, 1, 0.0); /* stale */
    ck_assert_uint_eq(sa->drops[RELAY_DROP_STALE], 1);
    ck_assert_uint_eq(sb->drops[RELAY_DROP_STALE], 0);
    ck_assert_str_eq(relay_drop_name(RELAY_DROP_NOT_OWNER), "not_owner");
    ck_assert_str_eq(relay_drop_name(RELAY_DROP_STALE), "stale");
    ck_assert_uint_eq(relay_hub_room_count(f.e.hub), 1);
    ck_assert_uint_eq(relay_hub_peer_count(f.e.hub), 3);
    tenv_free(&f.e);
}
END_TEST

START_TEST(relayed_as_sent_or_sanitized)
{
    struct fix f;
    setup(&f);
    /* a single well-formed message goes out as sent, "from" added: t byte for byte */
    sendf(&f, f.a,
          "{\"op\":30,\"seq\":1,\"t\":1732530000.1234567,\"head\":{\"p\":[0.1,1.6,0],"
          "\"r\":[0,0,0,1]}}");
    ttick(&f.e, TICK_MS);
    struct tdrain d;
    tdrain(f.b, &d);
    const char *text = json_string_value(json_array_get(d.frame_list, 0));
    ck_assert_str_eq(text, "{\"op\":30,\"from\":\"u1\",\"seq\":1,\"t\":1732530000.1234567,"
                           "\"head\":{\"p\":[0.1,1.6,0],\"r\":[0,0,0,1]}}");
    tdrain_clear(&d);
    /* a forged "from" and extra fields are never relayed */
    sendf(&f, f.a,
          "{\"op\":30,\"from\":\"u3\",\"seq\":2,\"junk\":1,\"head\":{\"p\":[0,1,0],"
          "\"r\":[0,0,0,1],\"x\":[1]}}");
    ttick(&f.e, TICK_MS);
    tdrain(f.b, &d);
    json_t *m = tfind(&d, OP_REP_TRANSFORM, 0);
    ck_assert_str_eq(tstr(m, "from"), "u1");
    ck_assert_ptr_null(json_object_get(m, "junk"));
    ck_assert_uint_eq(json_object_size(json_object_get(m, "head")), 2);
    tdrain_clear(&d);
    /* inside an array frame: as sent too, no scale added (test_relay_bytes.c has more) */
    sendf(&f, f.a,
          "[{\"op\":31,\"object_id\":\"box\",\"seq\":1,\"epoch\":1,\"t\":7,"
          "\"transform\":{\"position\":[1,2,3],\"rotation\":[0,0,0,1]}}]");
    ttick(&f.e, TICK_MS);
    tdrain(f.c, &d);
    m = tfind(&d, OP_REP_OBJECT, 0);
    ck_assert_str_eq(tstr(m, "from"), "u1");
    ck_assert_int_eq(tint(m, "t"), 7);
    ck_assert_ptr_null(json_object_get(json_object_get(m, "transform"), "scale"));
    tdrain_clear(&d);
    tenv_free(&f.e);
}
END_TEST

/* Index of the first message with op in d, or -1. */
static long first_index(const struct tdrain *d, int op)
{
    size_t i;
    json_t *m;
    json_array_foreach(d->msgs, i, m)
    {
        if (json_integer_value(json_object_get(m, "op")) == op)
            return (long)i;
    }
    return -1;
}

/* A grant or release in the same tick window as the owner's last high-rate value: the
 * value (already in the registry) still reaches everyone, before the ownership change. */
START_TEST(ownership_change_keeps_latest_values)
{
    struct fix f;
    setup(&f);
    rep_prop(&f, f.a, 1, 1, "wobble", "0.5");
    rep_object(&f, f.a, "box", 2, 1);
    sendf(&f, f.a, "{\"op\":13,\"object_id\":\"box\"}"); /* released before the tick */
    struct tdrain d;
    tdrain(f.b, &d);
    long prop = first_index(&d, OP_REP_PROPERTY), rel = first_index(&d, OP_OWNERSHIP_RELEASED);
    ck_assert_int_ge(prop, 0);
    ck_assert_int_gt(rel, prop);
    ck_assert_int_lt(first_index(&d, OP_REP_OBJECT), rel);
    ck_assert_str_eq(tstr(tfind(&d, OP_REP_PROPERTY, 0), "name"), "wobble");
    tdrain_clear(&d);
    tdiscard(f.a); /* the sender gets no echo */
    ttick(&f.e, TICK_MS);
    tdrain(f.c, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_PROPERTY), 1); /* once, not again at the tick */
    tdrain_clear(&d);
    /* the host owns it now (epoch 2); b grabs it in the window of a host value */
    rep_prop(&f, f.a, 3, 2, "wobble", "0.75");
    sendf(&f, f.b, "{\"op\":10,\"object_id\":\"box\"}");
    tdrain(f.c, &d);
    ck_assert_int_lt(first_index(&d, OP_REP_PROPERTY), first_index(&d, OP_OWNERSHIP_GRANTED));
    ck_assert(json_real_value(json_object_get(tfind(&d, OP_REP_PROPERTY, 0), "value")) == 0.75);
    tdrain_clear(&d);
    tenv_free(&f.e);
}
END_TEST

/* A backlogged recipient (its unreliable batches skipped) gets, once it has caught up, the
 * latest of every stream that changed while it was behind, once. */
START_TEST(backlog_catch_up_latest)
{
    struct fix f;
    setup(&f);
    char v[16];
    for (int i = 1; i <= 12; i++) {
        transform(&f, f.a, i, 0.0);
        snprintf(v, sizeof v, "%d", i);
        rep_prop(&f, f.a, i, 1, "wobble", v);
        ttick(&f.e, TICK_MS);
        tdiscard(f.c); /* c keeps up */
    }
    ck_assert_uint_gt(relay_peer_stats(f.b)->drops[RELAY_DROP_SLOW], 0);
    tdiscard(f.b); /* b reads everything queued */
    ttick(&f.e, TICK_MS); /* a sent nothing new */
    struct tdrain d;
    tdrain(f.b, &d);
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 1);
    ck_assert_int_eq(tint(tfind(&d, OP_REP_TRANSFORM, 0), "seq"), 12);
    ck_assert_uint_eq(tcount(&d, OP_REP_PROPERTY), 1);
    ck_assert_int_eq(tint(tfind(&d, OP_REP_PROPERTY, 0), "value"), 12);
    tdrain_clear(&d);
    tdrain(f.c, &d); /* c, never behind, gets nothing twice */
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 0);
    tdrain_clear(&d);
    ttick(&f.e, TICK_MS);
    tdrain(f.b, &d); /* and b only once */
    ck_assert_uint_eq(tcount(&d, OP_REP_TRANSFORM), 0);
    ck_assert_uint_eq(tcount(&d, OP_REP_PROPERTY), 0);
    tdrain_clear(&d);
    tenv_free(&f.e);
}
END_TEST

static Suite *relay_repl_suite(void)
{
    Suite *s = suite_create("relay_repl");
    TCase *tc = tcase_create("replication");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, transform_coalesced_latest_wins);
    tcase_add_test(tc, one_batched_frame_per_recipient);
    tcase_add_test(tc, object_authority_epoch_stale);
    tcase_add_test(tc, property_tiers);
    tcase_add_test(tc, downshift_idle_and_far);
    tcase_add_test(tc, backlog_bounded);
    tcase_add_test(tc, snapshot_chunks_reassembly_retry);
    tcase_add_test(tc, snapshot_of_empty_room_and_object_bound);
    tcase_add_test(tc, counters_and_frames);
    tcase_add_test(tc, relayed_as_sent_or_sanitized);
    tcase_add_test(tc, ownership_change_keeps_latest_values);
    tcase_add_test(tc, backlog_catch_up_latest);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_repl_suite)
