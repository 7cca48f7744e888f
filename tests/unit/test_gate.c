/* test_gate.c — unit tests of server/gate's pure parts: the raw request target
 * (gate_on_uri: control characters, spaces, fragments, percent-encoded control characters,
 * the absolute form) and the Transfer-Encoding value (gate_transfer_coding).  The checks
 * that need a connection run in tests/integration/test_http_framing.py. */
#include "server/gate.h"
#include "tests/unit/unit.h"

#include <string.h>

static const struct {
    const char *uri;
    bool bad;
    size_t authority;
} URIS[] = {
    {"/rooms/r1/state", false, 0},
    {"/rooms/r1/state?version=3", false, 0},
    {"/rooms/a%2Fb/state", false, 0},
    {"/rooms/%C3%A9/state", false, 0},
    {"/rooms/a%00b/state", true, 0},
    {"/rooms/r1/state?version=1%00junk", true, 0},
    {"/rooms/a%1fb/state", true, 0},
    {"/rooms/a%7Fb/state", true, 0},
    {"/rooms/a%20b/state", false, 0}, /* a space, encoded: the room id rule refuses it */
    {"/a\x01"
     "b",
     true, 0},
    {"/a b", true, 0},
    {"/a\x7f", true, 0},
    {"/healthz#frag", true, 0},
    {"/a%", false, 0},
    {"/a%0", false, 0},
    {"http://host/rooms/r1/save", false, 11},
    {"HTTPS://host:8443/healthz", false, 17},
    {"http://host?x=1", false, 11},
    {"http://host", false, 11},
    {"http:///healthz", true, 0},
    {"http://user@host/healthz", true, 0},
    {"http://ho%73t/healthz", true, 0},
    {"*", false, 0},
};

START_TEST(test_uri)
{
    for (size_t i = 0; i < sizeof URIS / sizeof URIS[0]; i++) {
        struct gate_uri g;
        memset(&g, 0x55, sizeof g);
        gate_on_uri(&g, URIS[i].uri);
        ck_assert_msg((g.problem != NULL) == URIS[i].bad, "%s: problem %s", URIS[i].uri,
                      g.problem ? g.problem : "none");
        ck_assert_uint_eq(g.raw_len, strlen(URIS[i].uri));
        if (!URIS[i].bad)
            ck_assert_msg(g.authority == URIS[i].authority, "%s: authority %zu", URIS[i].uri,
                          g.authority);
    }
}
END_TEST

static const struct {
    const char *value;
    enum gate_te want;
} TES[] = {
    {"chunked", GATE_TE_CHUNKED},
    {"Chunked", GATE_TE_CHUNKED},
    {"CHUNKED", GATE_TE_CHUNKED},
    {"gzip", GATE_TE_UNSUPPORTED},
    {"xchunked", GATE_TE_UNSUPPORTED},
    {"chunked, gzip", GATE_TE_UNSUPPORTED},
    {"gzip, chunked", GATE_TE_UNSUPPORTED},
    {"gzip,chunked", GATE_TE_UNSUPPORTED},
    {"chunked\t", GATE_TE_BAD},
    {" chunked", GATE_TE_BAD},
    {"chunked, chunked", GATE_TE_BAD},
    {"chunked,", GATE_TE_BAD},
    {",chunked", GATE_TE_BAD},
    {"chunked;q=1", GATE_TE_BAD},
    {"chun ked", GATE_TE_BAD},
    {"", GATE_TE_BAD},
};

START_TEST(test_transfer_coding)
{
    for (size_t i = 0; i < sizeof TES / sizeof TES[0]; i++) {
        const char *problem = NULL;
        enum gate_te te = gate_transfer_coding(TES[i].value, strlen(TES[i].value), &problem);
        ck_assert_msg(te == TES[i].want, "'%s': %d, want %d", TES[i].value, (int)te,
                      (int)TES[i].want);
        ck_assert_msg((problem == NULL) == (te == GATE_TE_CHUNKED), "'%s'", TES[i].value);
    }
}
END_TEST

static Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("gate");
    tcase_add_test(tc, test_uri);
    tcase_add_test(tc, test_transfer_coding);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(gate_suite)
