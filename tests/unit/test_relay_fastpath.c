/* test_relay_fastpath.c — the REP_TRANSFORM scanner of relay/fastpath.c: it takes exactly the
 * well-formed shape (whitespace, any key order) and leaves everything else to the JSON path;
 * whatever it takes jansson also parses (no input accepted here that the JSON path refuses). */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "relay/room_int.h"
#include "tests/unit/unit.h"

static bool scan(const char *text, struct fastpath_transform *tf)
{
    return fastpath_scan_transform(text, strlen(text), tf);
}

START_TEST(fastpath_accepts_the_shape)
{
    static const char *const ok[] = {
        "{\"op\":30,\"seq\":5,\"t\":1.5,\"head\":{\"p\":[1,2,3],\"r\":[0,0,0,1]}}",
        "{\"op\":30, \"head\" : {\"r\":[0,0,0,1], \"p\":[-1.5e2,0.25,3E-1]} ,\n\"seq\":0 }",
        "{\"op\":30,\"seq\":123456789012345678,\"head\":{\"p\":[0,0,0],\"r\":[0,0,0,1]},"
        "\"left\":{\"p\":[1,1,1],\"r\":[0,0,0,1]},\"right\":{\"p\":[2,2,2],\"r\":[0,0,0,1]},"
        "\"t\":-0}",
    };
    struct fastpath_transform tf;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(scan(ok[i], &tf), "refused: %s", ok[i]);
        json_error_t err;
        json_t *v = json_loads(ok[i], JSON_REJECT_DUPLICATES, &err);
        ck_assert_msg(v != NULL, "jansson refuses: %s", ok[i]);
        json_decref(v);
    }
    ck_assert(scan(ok[0], &tf));
    ck_assert_uint_eq(tf.seq, 5);
    ck_assert(tf.head[0] == 1 && tf.head[1] == 2 && tf.head[2] == 3);
    ck_assert(scan(ok[1], &tf));
    ck_assert_uint_eq(tf.seq, 0);
    ck_assert(tf.head[0] == -150 && tf.head[1] == 0.25);
    ck_assert(scan(ok[2], &tf));
    ck_assert_uint_eq(tf.seq, 123456789012345678ULL);
}
END_TEST

START_TEST(fastpath_leaves_the_rest_to_json)
{
#define H "\"head\":{\"p\":[1,2,3],\"r\":[0,0,0,1]}"
    static const char *const no[] = {
        "{\"op\":30,\"seq\":1,\"seq\":2," H "}",           /* duplicate */
        "{\"op\":30,\"seq\":1," H "," H "}",                /* duplicate head */
        "{\"op\":30,\"seq\":-1," H "}",                     /* negative seq */
        "{\"op\":30,\"seq\":1.0," H "}",                    /* real seq */
        "{\"op\":30,\"seq\":1e2," H "}",                    /* real seq */
        "{\"op\":30,\"seq\":01," H "}",                     /* leading zero */
        "{\"op\":30,\"seq\":1234567890123456789," H "}",    /* over 18 digits */
        "{\"op\":30," H "}",                                /* no seq */
        "{\"op\":30,\"seq\":1}",                            /* no head */
        "{\"op\":30,\"seq\":1," H ",\"x\":1}",              /* unknown key */
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,3]}}",   /* no r */
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,3,4],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,3],\"r\":[0,0,0,1],\"s\":1}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,\"3\"],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,1e999],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,.5],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,5.],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"head\":{\"p\":[1,2,NaN],\"r\":[0,0,0,1]}}",
        "{\"op\":30,\"seq\":1,\"t\":\"x\"," H "}",
        "{\"op\":30,\"s\\u0065q\":1," H "}",                /* escape */
        "{\"op\":30,\"seq\":1," H "}x",                     /* trailing bytes */
        "{\"op\":30,\"seq\":1," H ",}",                     /* trailing comma */
        "{\"op\":30,",
        "{\"op\":300,\"seq\":1," H "}",
        "{\"op\":31,\"seq\":1," H "}",
        "{\"op\":30,\"seq\":1," H,                          /* unterminated */
        "{\"op\":30,\"seq\":1,\"t\":1,\"t\":2," H "}",
        "{\"op\":30,\"seq\":1,\"h\xc3\xa9\":1," H "}",      /* non-ASCII key */
    };
#undef H
    struct fastpath_transform tf;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!scan(no[i], &tf), "taken: %s", no[i]);
}
END_TEST

static Suite *relay_fastpath_suite(void)
{
    Suite *s = suite_create("relay_fastpath");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fastpath_accepts_the_shape);
    tcase_add_test(tc, fastpath_leaves_the_rest_to_json);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(relay_fastpath_suite)
