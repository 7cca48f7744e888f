/* test_livekit.c — LiveKit access-token minting (common/livekit.c).  The tokens are also
 * verified with LiveKit's own TokenVerifier in tests/integration/test_livekit.py. */
#include "common/b64.h"
#include "common/livekit.h"
#include "tests/unit/unit.h"

#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

static const struct livekit_config cfg = {
    .api_key = "APIkey123", .api_secret = "a-long-livekit-secret-of-32-bytes!", .url = "ws://lk:7880",
    .ttl_s = 600};

static json_t *part(const char *tok, int idx)
{
    const char *p = tok;
    for (int i = 0; i < idx; i++)
        p = strchr(p, '.') + 1;
    const char *e = strchr(p, '.');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    unsigned char buf[4096];
    long m = b64url_decode(p, n, buf);
    ck_assert_int_gt(m, 0);
    return json_loadb((const char *)buf, (size_t)m, 0, NULL);
}

START_TEST(mint_has_grants)
{
    int64_t exp = 0;
    char *tok = livekit_token_mint(&cfg, "lobby-1", "11111111-1111-4111-8111-111111111111",
                                   "alice", 1000000, &exp);
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq(exp, 1000600);
    json_t *h = part(tok, 0), *c = part(tok, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "HS256");
    ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "APIkey123");
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")),
                     "11111111-1111-4111-8111-111111111111");
    ck_assert_str_eq(json_string_value(json_object_get(c, "name")), "alice");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), 1000600);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "nbf")), 1000000);
    json_t *v = json_object_get(c, "video");
    ck_assert_str_eq(json_string_value(json_object_get(v, "room")), "lobby-1");
    ck_assert(json_is_true(json_object_get(v, "roomJoin")));
    ck_assert(json_is_true(json_object_get(v, "canPublish")));
    ck_assert(json_is_true(json_object_get(v, "canSubscribe")));
    ck_assert(json_is_true(json_object_get(v, "canPublishData")));
    /* the signature verifies with the secret, and not with another */
    jwt_t *jwt = NULL;
    ck_assert_int_eq(jwt_decode(&jwt, tok, (const unsigned char *)cfg.api_secret,
                                (int)strlen(cfg.api_secret)),
                     0);
    jwt_free(jwt);
    jwt = NULL;
    ck_assert_int_ne(jwt_decode(&jwt, tok, (const unsigned char *)"other", 5), 0);
    json_decref(h);
    json_decref(c);
    free(tok);
}
END_TEST

START_TEST(refuses_bad_input)
{
    struct livekit_config none = {0};
    ck_assert(!livekit_configured(&none));
    ck_assert_ptr_null(livekit_token_mint(&none, "r", "u", "n", 1, NULL));
    ck_assert_ptr_null(livekit_token_mint(&cfg, "", "u", "n", 1, NULL));
    ck_assert_ptr_null(livekit_token_mint(&cfg, "has space", "u", "n", 1, NULL));
    ck_assert_ptr_null(livekit_token_mint(&cfg, "quote\"", "u", "n", 1, NULL));
    ck_assert_ptr_null(livekit_token_mint(&cfg, "room", "", "n", 1, NULL));
    char big[LIVEKIT_ROOM_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert(!livekit_room_name_valid(big, strlen(big)));
    ck_assert(livekit_room_name_valid(big, LIVEKIT_ROOM_MAX));
}
END_TEST

static Suite *livekit_suite(void)
{
    Suite *s = suite_create("livekit");
    TCase *tc = tcase_create("mint");
    tcase_add_test(tc, mint_has_grants);
    tcase_add_test(tc, refuses_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(livekit_suite)
