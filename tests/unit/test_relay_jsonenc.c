/* test_relay_jsonenc.c — the relay's JSON encoder (relay/jsonenc.h) and message pool:
 * shortest round-trip reals, escapes, order, limits, truncation, pooled buffers. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "relay/jsonenc.h"
#include "relay/outbox.h"
#include "tests/unit/unit.h"

static char *enc(const json_t *v)
{
    size_t n = jsonenc_dump(v, NULL, 0);
    char *s = malloc(n + 1);
    ck_assert_uint_eq(jsonenc_dump(v, s, n), n);
    s[n] = '\0';
    return s;
}

START_TEST(reals_shortest_round_trip)
{
    const char *text = "[0.1,1.6,-2.25,1732530000.125,0.30000000000000004,1e+300,5.0,-0.0,"
                       "3.4028234663852886e+38,1.2345600128173828]";
    json_t *v = json_loads(text, 0, NULL);
    char *s = enc(v);
    ck_assert_str_eq(s, "[0.1,1.6,-2.25,1732530000.125,0.30000000000000004,1e+300,5.0,-0.0,"
                        "3.4028234663852886e+38,1.2345600128173828]");
    json_t *back = json_loads(s, 0, NULL);
    for (size_t i = 0; i < json_array_size(v); i++) {
        ck_assert(json_is_real(json_array_get(back, i)));
        ck_assert(json_real_value(json_array_get(back, i)) ==
                  json_real_value(json_array_get(v, i)));
    }
    json_decref(back);
    json_decref(v);
    free(s);
}
END_TEST

START_TEST(strings_objects_order)
{
    json_t *o = json_object();
    json_object_set_new(o, "z", json_string("a\"b\\c\n\t\x01/é"));
    json_object_set_new(o, "a", json_integer(-42));
    json_object_set_new(o, "t", json_true());
    json_object_set_new(o, "f", json_false());
    json_object_set_new(o, "n", json_null());
    json_object_set_new(o, "arr", json_pack("[i[]{}]", 1));
    char *s = enc(o);
    ck_assert_str_eq(s, "{\"z\":\"a\\\"b\\\\c\\n\\t\\u0001/é\",\"a\":-42,\"t\":true,"
                        "\"f\":false,\"n\":null,\"arr\":[1,[],{}]}");
    json_t *back = json_loads(s, 0, NULL);
    ck_assert(json_equal(back, o));
    json_decref(back);
    free(s);
    /* truncation: the full length is returned, the prefix written */
    char small[8];
    ck_assert_uint_gt(jsonenc_dump(o, small, sizeof small), sizeof small);
    ck_assert(memcmp(small, "{\"z\":\"a\\", 8) == 0);
    json_decref(o);
}
END_TEST

START_TEST(depth_limit)
{
    json_t *v = json_array(), *cur = v;
    for (int i = 0; i < 70; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    ck_assert_uint_eq(jsonenc_dump(v, NULL, 0), 0);
    json_decref(v);
    ck_assert_uint_eq(jsonenc_dump(NULL, NULL, 0), 0);
}
END_TEST

START_TEST(pool_reuses_buffers)
{
    struct msg_pool pool;
    msg_pool_init(&pool, 16);
    struct relay_msg *a = relay_msg_new(&pool, 30, "{\"op\":30}", 9, 5);
    ck_assert_uint_eq(a->len, 9);
    ck_assert(memcmp(relay_msg_bytes(a), "{\"op\":30}", 9) == 0);
    ck_assert_uint_eq(relay_msg_bytes(a) - a->data, 16);
    void *first = a;
    relay_msg_unref(a);
    struct relay_msg *b = relay_msg_new(&pool, 31, "{\"op\":31}", 9, 0);
    ck_assert_ptr_eq(b, first); /* the freed buffer came back */
    struct relay_msg *msgs[2] = {b, relay_msg_ref(b)};
    struct relay_msg *j = relay_msg_join(&pool, msgs, 2);
    ck_assert_uint_eq(j->nmsgs, 2);
    ck_assert(memcmp(relay_msg_bytes(j), "[{\"op\":31},{\"op\":31}]", j->len) == 0);
    relay_msg_unref(j);
    relay_msg_unref(b);
    relay_msg_unref(b);
    /* a message above the largest class is not pooled */
    char *big = malloc(100000);
    memset(big, ' ', 100000);
    struct relay_msg *c = relay_msg_new(&pool, 0, big, 100000, 0);
    ck_assert_uint_eq(c->len, 100000);
    relay_msg_unref(c);
    free(big);
    msg_pool_clear(&pool);
}
END_TEST

static Suite *relay_jsonenc_suite(void)
{
    Suite *s = suite_create("relay_jsonenc");
    TCase *tc = tcase_create("jsonenc");
    tcase_add_test(tc, reals_shortest_round_trip);
    tcase_add_test(tc, strings_objects_order);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, pool_reuses_buffers);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_jsonenc_suite)
