/* test_authcache.c — unit tests of server/authcache: same results as auth_verify_bearer
 * on every header (cached or not), hits only for the exact token and keys, an expired
 * token never accepted from the cache, and the header size check kept. */
#include "common/auth.h"
#include "server/authcache.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "authcache-session-key-0123"
#define SVC_KEY "authcache-service-key-4567"
#define UID "3f0c5a8e-6d1b-4c2a-9e7f-000000002002"
#define NOW ((int64_t)1800000000)

static const struct auth_keys KEYS = {
    .session_key = KEY,
    .session_key_len = sizeof KEY - 1,
    .service_key = SVC_KEY,
    .service_key_len = sizeof SVC_KEY - 1,
};

static char *bearer(const char *token, const char *pre, const char *post)
{
    size_t n = strlen(token) + strlen(pre) + strlen(post) + 8;
    char *h = malloc(n);
    ck_assert_ptr_nonnull(h);
    snprintf(h, n, "Bearer %s%s%s", pre, token, post);
    return h;
}

/* authcache_verify_bearer twice and auth_verify_bearer once agree (result and identity). */
static enum auth_result agree(const struct auth_keys *k, const char *h, int64_t now)
{
    struct auth_identity a, b, c;
    enum auth_result ra = auth_verify_bearer(k, h, now, &a);
    enum auth_result rb = authcache_verify_bearer(k, h, now, &b);
    enum auth_result rc = authcache_verify_bearer(k, h, now, &c);
    ck_assert_int_eq(ra, rb);
    ck_assert_int_eq(ra, rc);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_int_eq(memcmp(&a, &c, sizeof a), 0);
    return ra;
}

START_TEST(test_hit_same_identity)
{
    char *tok = auth_mint_session(KEY, UID, "alice", NOW - 10, NOW + 600);
    ck_assert_ptr_nonnull(tok);
    char *h = bearer(tok, "", "");
    uint64_t h0, m0, h1, m1;
    authcache_stats(&h0, &m0);
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    authcache_stats(&h1, &m1);
    ck_assert_uint_ge(h1 - h0, 1); /* the second cached call was a hit */
    struct auth_identity id;
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW, &id), AUTH_OK);
    ck_assert_str_eq(id.user_id, UID);
    ck_assert_str_eq(id.username, "alice");
    ck_assert_int_eq(id.exp, NOW + 600);
    free(h);
    free(tok);
}
END_TEST

START_TEST(test_expired_never_from_cache)
{
    char *tok = auth_mint_session(KEY, UID, "bob", NOW - 10, NOW + 5);
    char *h = bearer(tok, "", "");
    struct auth_identity id;
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW, &id), AUTH_OK);
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW + 4, &id), AUTH_OK);
    ck_assert_int_eq(agree(&KEYS, h, NOW + 5), AUTH_EXPIRED);
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW + 5, &id), AUTH_EXPIRED);
    ck_assert_int_eq(id.exp, NOW + 5);
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW + 1000, &id), AUTH_EXPIRED);
    /* with leeway the same token is still good, as auth_verify_bearer says */
    struct auth_keys lee = KEYS;
    lee.leeway_s = 30;
    ck_assert_int_eq(agree(&lee, h, NOW + 20), AUTH_OK);
    ck_assert_int_eq(agree(&lee, h, NOW + 35), AUTH_EXPIRED);
    free(h);
    free(tok);
}
END_TEST

START_TEST(test_keys_bound)
{
    char *tok = auth_mint_session(KEY, UID, "carol", NOW - 10, NOW + 600);
    char *h = bearer(tok, "", "");
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    static const struct auth_keys other = {.session_key = "another-key-entirely",
                                           .session_key_len = 20};
    ck_assert_int_eq(agree(&other, h, NOW), AUTH_BAD_SIGNATURE);
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    free(h);
    free(tok);
}
END_TEST

START_TEST(test_altered_and_shapes)
{
    char *tok = auth_mint_session(KEY, UID, "dave", NOW - 10, NOW + 600);
    char *h = bearer(tok, "", "");
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    /* one byte of the signature changed: a different token, not a hit */
    size_t n = strlen(h);
    h[n - 2] = h[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_BAD_SIGNATURE);
    h[n - 2] = '\0'; /* truncated */
    ck_assert_int_ne(agree(&KEYS, h, NOW), AUTH_OK);
    free(h);
    /* spaces around the token: as auth_verify_bearer */
    h = bearer(tok, "   ", " \t ");
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    free(h);
    /* a huge run of spaces before a cached token: the header size check still applies */
    char *pad = malloc(AUTH_MAX_TOKEN_BYTES + 200);
    memset(pad, ' ', AUTH_MAX_TOKEN_BYTES + 199);
    pad[AUTH_MAX_TOKEN_BYTES + 199] = '\0';
    h = bearer(tok, pad, "");
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_TOO_LARGE);
    free(h);
    free(pad);
    ck_assert_int_eq(agree(&KEYS, NULL, NOW), AUTH_MISSING);
    ck_assert_int_eq(agree(&KEYS, "", NOW), AUTH_MISSING);
    ck_assert_int_eq(agree(&KEYS, "Basic abc", NOW), AUTH_BAD_SCHEME);
    ck_assert_int_eq(agree(&KEYS, "bearer x.y.z", NOW), AUTH_MALFORMED);
    free(tok);
}
END_TEST

START_TEST(test_service_tokens)
{
    char *tok = auth_mint_service(SVC_KEY, "relay", UID, NOW - 10, NOW + 600);
    ck_assert_ptr_nonnull(tok);
    char *h = bearer(tok, "", "");
    ck_assert_int_eq(agree(&KEYS, h, NOW), AUTH_OK);
    struct auth_identity id;
    ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW, &id), AUTH_OK);
    ck_assert(id.is_service);
    ck_assert_str_eq(id.service, "relay");
    ck_assert_int_eq(agree(&KEYS, h, NOW + 600), AUTH_EXPIRED);
    free(h);
    free(tok);
}
END_TEST

START_TEST(test_many_tokens)
{
    /* more tokens than slots: every answer still right */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3 * AUTHCACHE_SLOTS; i++) {
            char uname[32];
            snprintf(uname, sizeof uname, "user%d", i);
            char *tok = auth_mint_session(KEY, UID, uname, NOW - 10, NOW + 100 + i);
            char *h = bearer(tok, "", "");
            struct auth_identity id;
            ck_assert_int_eq(authcache_verify_bearer(&KEYS, h, NOW, &id), AUTH_OK);
            ck_assert_str_eq(id.username, uname);
            ck_assert_int_eq(id.exp, NOW + 100 + i);
            free(h);
            free(tok);
        }
}
END_TEST

static Suite *authcache_suite(void)
{
    Suite *s = suite_create("authcache");
    TCase *tc = tcase_create("authcache");
    tcase_add_test(tc, test_hit_same_identity);
    tcase_add_test(tc, test_expired_never_from_cache);
    tcase_add_test(tc, test_keys_bound);
    tcase_add_test(tc, test_altered_and_shapes);
    tcase_add_test(tc, test_service_tokens);
    tcase_add_test(tc, test_many_tokens);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(authcache_suite)
