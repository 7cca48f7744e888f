/* test_relay_bytes.c — relayed REP_* messages carry every listed field exactly as the
 * sender wrote it (asyncapi.yaml "Relayed messages"), whatever the key order (Godot's
 * JSON.stringify sorts keys), the whitespace or the frame form (single or array), numbers
 * such as 1.50, -0.0, 1e-3 and 12345678901234567890 included; and relay/jspan's spans. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "relay/jspan.h"
#include "tests/unit/test_relay_util.h"
#include "tests/unit/unit.h"

#define TICK_MS 50

struct bfix {
    struct tenv e;
    struct relay_peer *a, *b;
};

/* a (host) and b; a manifest with a reliable and a high-rate property; a's object "box". */
static void bsetup(struct bfix *f)
{
    tenv_init(&f->e);
    f->e.cfg.in_rate_per_s = 100000;
    tenv_start(&f->e);
    f->a = tjoin(&f->e, "bytes", "u1", RELAY_JOIN_OK);
    f->b = tjoin(&f->e, "bytes", "u2", RELAY_JOIN_OK);
    tsend(&f->e, f->a,
          "{\"op\":25,\"manifest_id\":\"m1\",\"properties\":{"
          "\"color\":{\"tier\":\"reliable_on_change\"},"
          "\"wobble\":{\"tier\":\"high_rate_unreliable\"}}}");
    tsend(&f->e, f->a,
          "{\"op\":20,\"object_id\":\"box\",\"manifest_id\":\"m1\",\"persist_mode\":\"placed_room\","
          "\"transform\":{\"position\":[0,0,0],\"rotation\":[0,0,0,1]}}");
    tsend(&f->e, f->a, "{\"op\":10,\"object_id\":\"box\"}");
    ttick(&f->e, TICK_MS);
    tdiscard(f->a);
    tdiscard(f->b);
}

/* Sends text from a, ticks, and asserts that b received exactly want (as one whole message
 * inside one of its frames: alone, or an element of a batch). */
static void expect_relayed(struct bfix *f, const char *text, const char *want)
{
    tsend(&f->e, f->a, text);
    ttick(&f->e, TICK_MS);
    struct tdrain d;
    tdrain(f->b, &d);
    bool found = false;
    size_t i;
    json_t *fr;
    json_array_foreach(d.frame_list, i, fr)
    {
        const char *s = json_string_value(fr);
        const char *hit = strstr(s, want);
        size_t wl = strlen(want);
        /* a whole message: starts the frame or follows [ or , and ends it or precedes , or ] */
        if (hit && (hit == s || hit[-1] == '[' || hit[-1] == ',') &&
            (hit[wl] == '\0' || hit[wl] == ',' || hit[wl] == ']'))
            found = true;
    }
    if (!found) {
        json_t *first = json_array_get(d.frame_list, 0);
        ck_abort_msg("sent %s\nwanted %s\ngot %s", text, want,
                     first ? json_string_value(first) : "(nothing)");
    }
    tdrain_clear(&d);
}

START_TEST(transform_any_order_any_form)
{
    struct bfix f;
    bsetup(&f);
    /* sorted keys (Godot), odd numbers */
    expect_relayed(&f,
                   "{\"head\":{\"p\":[1.50,-0.0,1e-3],\"r\":[0,0,0,1.0]},\"op\":30,\"seq\":1,"
                   "\"t\":12345678901234567890}",
                   "{\"op\":30,\"from\":\"u1\",\"head\":{\"p\":[1.50,-0.0,1e-3],"
                   "\"r\":[0,0,0,1.0]},\"seq\":1,\"t\":12345678901234567890}");
    /* whitespace between and inside: the values keep theirs */
    expect_relayed(&f,
                   " { \"seq\" : 2 ,\n\t\"t\" : 1.50 , \"op\" : 30 , \"head\" : { \"r\" : [ 0 , 0 "
                   ", 0 , 1 ] , \"p\" : [ 1E+2 , 0 , -0.0 ] } } ",
                   "{\"op\":30,\"from\":\"u1\",\"seq\":2,\"t\":1.50,\"head\":{ \"r\" : [ 0 , 0 , 0 "
                   ", 1 ] , \"p\" : [ 1E+2 , 0 , -0.0 ] }}");
    /* in an array frame, with an unlisted field (left out) and an unlisted pose key */
    expect_relayed(&f,
                   "[{\"t\":-0.0,\"seq\":3,\"junk\":[1,2],\"op\":30,\"head\":{\"x\":1,\"p\":[1.50,0,"
                   "0],\"r\":[0,0,0,1]}}]",
                   "{\"op\":30,\"from\":\"u1\",\"t\":-0.0,\"seq\":3,\"head\":{\"p\":[1.50,0,0],"
                   "\"r\":[0,0,0,1]}}");
    /* the fast path's own shape: as sent too */
    expect_relayed(&f, "{\"op\":30,\"seq\":4,\"t\":1e-3,\"head\":{\"p\":[0,1,2],\"r\":[0,0,0,1]}}",
                   "{\"op\":30,\"from\":\"u1\",\"seq\":4,\"t\":1e-3,\"head\":{\"p\":[0,1,2],"
                   "\"r\":[0,0,0,1]}}");
    tenv_free(&f.e);
}
END_TEST

START_TEST(object_and_property_any_order_any_form)
{
    struct bfix f;
    bsetup(&f);
    /* REP_OBJECT sorted, without scale: none is added */
    expect_relayed(&f,
                   "{\"epoch\":1,\"object_id\":\"box\",\"op\":31,\"seq\":1,\"t\":1.50,"
                   "\"transform\":{\"position\":[1.50,-0.0,1e-3],\"rotation\":[0,0,0,1]}}",
                   "{\"op\":31,\"from\":\"u1\",\"epoch\":1,\"object_id\":\"box\",\"seq\":1,"
                   "\"t\":1.50,\"transform\":{\"position\":[1.50,-0.0,1e-3],"
                   "\"rotation\":[0,0,0,1]}}");
    /* in an array with two messages: each as sent */
    expect_relayed(&f,
                   "[{\"op\":32,\"object_id\":\"box\",\"seq\":2,\"epoch\":1,\"name\":\"color\","
                   "\"value\":{\"rgb\":[1.50,-0.0,1e-3],\"big\":12345678901234567890}},"
                   " {\"value\":12345678901234567890,\"op\":32,\"name\":\"wobble\",\"epoch\":1,"
                   "\"seq\":3,\"object_id\":\"box\"}]",
                   "{\"op\":32,\"from\":\"u1\",\"object_id\":\"box\",\"seq\":2,\"epoch\":1,"
                   "\"name\":\"color\",\"value\":{\"rgb\":[1.50,-0.0,1e-3],"
                   "\"big\":12345678901234567890}}");
    /* REP_OBJECT with whitespace and a scale as written */
    expect_relayed(&f,
                   "{ \"transform\" : {\"scale\":[1.0,1.0,1.0],\"rotation\":[0,0,0,1],"
                   "\"position\":[2,2,2]} , \"t\" : 7 , \"seq\" : 4 , \"op\" : 31 , \"epoch\" : 1 "
                   ", \"object_id\" : \"box\" }",
                   "{\"op\":31,\"from\":\"u1\",\"transform\":{\"scale\":[1.0,1.0,1.0],"
                   "\"rotation\":[0,0,0,1],\"position\":[2,2,2]},\"t\":7,\"seq\":4,\"epoch\":1,"
                   "\"object_id\":\"box\"}");
    tenv_free(&f.e);
}
END_TEST

START_TEST(jspan_spans)
{
    struct jmember m[8];
    const char *o = " {\"a\" : [1, {\"x\":\"]}\\\"\"}] ,\"b\\u0062\":-0.0,\"c\":{}} ";
    ck_assert_int_eq(jspan_object(o, strlen(o), m, 8), 3);
    ck_assert(jspan_key_is(&m[0], "a"));
    ck_assert_int_eq((int)m[0].value.n, (int)strlen("[1, {\"x\":\"]}\\\"\"}]"));
    ck_assert(m[1].key_escaped);
    ck_assert(!jspan_key_is(&m[1], "bb"));
    ck_assert_int_eq(memcmp(m[1].value.p, "-0.0", 4), 0);
    ck_assert_int_eq((int)m[1].value.n, 4);
    ck_assert_int_eq((int)m[2].value.n, 2);
    struct jspan el[4];
    const char *a = "[ {\"op\":1} ,2,\"s\" ]";
    ck_assert_int_eq(jspan_array(a, strlen(a), el, 4), 3);
    ck_assert_int_eq((int)el[0].n, 8);
    ck_assert_int_eq(jspan_array("[]", 2, el, 4), 0);
    /* more elements than max: counted, not stored past max */
    ck_assert_int_eq(jspan_array("[1,2,3,4,5]", 11, el, 2), 5);
    /* not what was expected: -1, never a read past the end */
    static const char *const bad[] = {"", "{", "[1,", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
                                      "[1]x", "{\"a", "[\"\\\"]", "{a:1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n1 = jspan_object(bad[i], strlen(bad[i]), m, 8);
        int n2 = jspan_array(bad[i], strlen(bad[i]), el, 4);
        ck_assert_msg(n1 == -1 && n2 == -1, "%s: %d %d", bad[i], n1, n2);
    }
}
END_TEST

static Suite *bytes_suite(void)
{
    Suite *s = suite_create("relay_bytes");
    TCase *tc = tcase_create("bytes");
    tcase_add_test(tc, transform_any_order_any_form);
    tcase_add_test(tc, object_and_property_any_order_any_form);
    tcase_add_test(tc, jspan_spans);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(bytes_suite)
