/* test_relay_fuzz.c — deterministic mutation smoke test of the rules module: valid
 * messages of every op, mutated (bytes flipped, cut, values swapped for other types and
 * extremes), fed by three peers with ticks, leaves and rejoins.  Nothing may crash (run it
 * under ASan+UBSan), every frame the relay queues is valid JSON with an integer op.
 * RELAY_FUZZ_ITERATIONS=N runs longer than the default 20000. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

static const char *const seeds[] = {
    "{\"op\":25,\"manifest_id\":\"m\",\"properties\":{\"c\":{\"tier\":\"reliable_on_change\"},"
    "\"w\":{\"tier\":\"high_rate_unreliable\"},\"l\":{\"tier\":\"snapshot_only\",\"durable\":"
    "false}}}",
    "{\"op\":20,\"object_id\":\"o1\",\"manifest_id\":\"m\",\"persist_mode\":\"placed_room\","
    "\"transform\":{\"position\":[1,2,3],\"rotation\":[0,0,0,1],\"scale\":[1,1,1]},"
    "\"properties\":{\"c\":\"#fff\",\"l\":[1,{\"a\":null}]},\"held\":true}",
    "{\"op\":20,\"object_id\":\"o2\",\"manifest_id\":\"m\",\"persist_mode\":\"transient_held\"}",
    "{\"op\":10,\"object_id\":\"o1\"}",
    "{\"op\":13,\"object_id\":\"o1\",\"transform\":{\"position\":[0,0,0],\"rotation\":[0,0,0,1]},"
    "\"persist_mode\":\"placed_saved\"}",
    "{\"op\":21,\"object_id\":\"o2\"}",
    "{\"op\":22,\"object_id\":\"o1\",\"persist_mode\":\"placed_saved\"}",
    "{\"op\":30,\"seq\":5,\"t\":1.5,\"head\":{\"p\":[0,1.6,0],\"r\":[0,0,0,1]},\"left\":{\"p\":"
    "[0,1,0],\"r\":[0,0,0,1]}}",
    "{\"op\":31,\"object_id\":\"o1\",\"seq\":7,\"epoch\":1,\"transform\":{\"position\":[1,1,1],"
    "\"rotation\":[0,0,0,1]}}",
    "{\"op\":32,\"object_id\":\"o1\",\"seq\":8,\"epoch\":1,\"name\":\"w\",\"value\":0.5}",
    "{\"op\":32,\"object_id\":\"o1\",\"seq\":9,\"epoch\":0,\"name\":\"c\",\"value\":\"#000\"}",
    "{\"op\":40}",
    "{\"op\":40,\"snapshot\":1,\"chunks\":[0,0,1]}",
    "{\"op\":50}",
    "[{\"op\":10,\"object_id\":\"o1\"},{\"op\":13,\"object_id\":\"o1\"}]",
};

static const char *const tokens[] = {
    "null",
    "true",
    "-1",
    "0",
    "1e308",
    "-9223372036854775808",
    "18446744073709551616",
    "\"\"",
    "[]",
    "{}",
    "\"o1\"",
    "[1,2]",
    "{\"p\":[]}",
    "1.5",
    "\"\\u0000\"",
    "[[[[[[[]]]]]]]",
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* A mutation of seed into out (NUL-terminated); returns its length. */
static size_t mutate(const char *seed, char *out, size_t size)
{
    size_t n = strlen(seed);
    if (n >= size)
        n = size - 1;
    memcpy(out, seed, n);
    out[n] = '\0';
    switch (next_rand() % 5) {
    case 0: /* flip bytes */
        for (int k = 0; k < 3; k++)
            out[next_rand() % n] = (char)(next_rand() & 0xff);
        break;
    case 1: /* cut */
        n = next_rand() % n;
        out[n] = '\0';
        break;
    case 2: { /* replace a value after some ':' with another token */
        char *colon = strchr(out + next_rand() % n, ':');
        if (!colon)
            break;
        const char *tok = tokens[next_rand() % (sizeof tokens / sizeof *tokens)];
        size_t at = (size_t)(colon + 1 - out), end = at;
        while (out[end] && out[end] != ',' && out[end] != '}')
            end++;
        size_t tl = strlen(tok), rest = n - end;
        if (at + tl + rest >= size)
            break;
        memmove(out + at + tl, out + end, rest + 1);
        memcpy(out + at, tok, tl);
        n = at + tl + rest;
        break;
    }
    case 3: /* the op changed */
        if (strncmp(out, "{\"op\":", 6) == 0) {
            size_t end = 6;
            while (out[end] >= '0' && out[end] <= '9')
                end++;
            char num[16];
            int tl = snprintf(num, sizeof num, "%u", next_rand() % 60);
            size_t rest = n - end;
            if (6 + (size_t)tl + rest >= size)
                break;
            memmove(out + 6 + tl, out + end, rest + 1);
            memcpy(out + 6, num, (size_t)tl);
            n = 6 + (size_t)tl + rest;
        }
        break;
    default: /* unchanged */
        break;
    }
    return n;
}

static void check_output(struct relay_peer *p)
{
    struct relay_frame f;
    while (relay_peer_next(p, &f) == RELAY_OUT_FRAME) {
        json_error_t err;
        json_t *v = json_loadb((const char *)f.bytes, f.len, JSON_REJECT_DUPLICATES, &err);
        ck_assert_msg(v != NULL, "relay sent invalid JSON: %s", err.text);
        json_t *first = json_is_array(v) ? json_array_get(v, 0) : v;
        ck_assert(json_is_integer(json_object_get(first, "op")));
        json_decref(v);
        relay_peer_pop(p);
    }
}

START_TEST(mutations_never_crash)
{
    struct tenv e;
    tenv_init(&e);
    e.cfg.in_rate_per_s = 1000000;
    e.cfg.strikes_max = 1000000;
    tenv_start(&e);
    const char *uids[3] = {"u1", "u2", "u3"};
    struct relay_peer *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = tjoin(&e, "fuzz", uids[i], RELAY_JOIN_OK);
    char buf[8192];
    size_t nseeds = sizeof seeds / sizeof *seeds;
    const char *env = getenv("RELAY_FUZZ_ITERATIONS"); /* default 20000; more by hand */
    long iterations = env ? strtol(env, NULL, 10) : 20000;
    for (long it = 0; it < iterations; it++) {
        int who = (int)(next_rand() % 3);
        const char *seed = seeds[next_rand() % nseeds];
        size_t n = mutate(seed, buf, sizeof buf);
        relay_peer_handle(p[who], buf, n, e.now);
        if (it % 7 == 0)
            tsend(&e, p[who], seed); /* keep some valid state going */
        if (it % 50 == 0)
            ttick(&e, 50);
        if (it % 997 == 0) { /* leave and come back, cleanly or not */
            relay_peer_leave(p[who], it % 2 ? RELAY_LEAVE_CLEAN : RELAY_LEAVE_DROPPED, e.now);
            enum relay_join_result r =
                relay_hub_join(e.hub, "fuzz", uids[who], "x", NULL, e.now, &p[who]);
            ck_assert(r == RELAY_JOIN_OK || r == RELAY_JOIN_RESUMED);
        }
        if (it % 10 == 0)
            for (int i = 0; i < 3; i++)
                check_output(p[i]);
    }
    for (int i = 0; i < 3; i++)
        check_output(p[i]);
    json_t *doc = relay_room_export(relay_hub_find_room(e.hub, "fuzz"));
    ck_assert_ptr_nonnull(doc);
    json_decref(doc);
    tenv_free(&e);
}
END_TEST

static Suite *relay_fuzz_suite(void)
{
    Suite *s = suite_create("relay_fuzz");
    TCase *tc = tcase_create("mutations");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mutations_never_crash);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_fuzz_suite)
