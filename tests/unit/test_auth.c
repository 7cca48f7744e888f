/* test_auth.c — unit tests of common/auth: Nakama session tokens and service tokens, each
 * check of docs/http-api.md "Authentication" and the libjwt 1.10.2 pitfalls, with tokens
 * forged here (OpenSSL HMAC + b64url_encode) rather than by the code under test. */
#include "common/auth.h"
#include "common/b64.h"
#include "tests/unit/unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_KEY "test-session-key-0123456789"
#define SERVICE_KEY "test-service-key-9876543210"
#define UID "3f0c5a8e-6d1b-4c2a-9e7f-000000001001"
#define NOW ((int64_t)1800000000)
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static const struct auth_keys KEYS = {
    .session_key = SESSION_KEY,
    .session_key_len = sizeof SESSION_KEY - 1,
    .service_key = SERVICE_KEY,
    .service_key_len = sizeof SERVICE_KEY - 1,
    .leeway_s = 0,
};

static char *b64(const void *data, size_t len)
{
    char *out = malloc(b64url_encoded_len(len) + 1);
    ck_assert_ptr_nonnull(out);
    b64url_encode(data, len, out);
    return out;
}

/* header.payload.signature, the signature an HMAC with md and key (md NULL: empty). */
static char *forge_md(const char *header, const char *payload, const EVP_MD *md, const char *key)
{
    char *h = b64(header, strlen(header));
    char *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *signing = malloc(n);
    ck_assert_ptr_nonnull(signing);
    snprintf(signing, n, "%s.%s", h, p);
    char *sig = NULL;
    if (md) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        ck_assert_ptr_nonnull(HMAC(md, key, (int)strlen(key), (const unsigned char *)signing,
                                   strlen(signing), mac, &mac_len));
        sig = b64(mac, mac_len);
    } else {
        sig = strdup("");
    }
    size_t tn = n + strlen(sig) + 1;
    char *tok = malloc(tn);
    ck_assert_ptr_nonnull(tok);
    snprintf(tok, tn, "%s.%s", signing, sig);
    free(h);
    free(p);
    free(signing);
    free(sig);
    return tok;
}

static char *forge(const char *payload, const char *key)
{
    return forge_md(HS256, payload, EVP_sha256(), key);
}

/* A session payload with exp = NOW + ttl. */
static char *session_payload(const char *uid, int64_t ttl)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"tid\":\"6a1d2c3e-0000-4000-8000-000000000001\",\"uid\":\"%s\",\"usn\":\"player1\","
             "\"vrs\":{\"team\":\"red\"},\"iat\":%lld,\"exp\":%lld}",
             uid, (long long)(NOW - 10), (long long)(NOW + ttl));
    return buf;
}

static enum auth_result verify_with(const struct auth_keys *keys, const char *tok,
                                    struct auth_identity *id)
{
    return auth_verify_token(keys, tok, strlen(tok), NOW, id);
}

/* Verifies a forged token with KEYS, expects want, frees the token. */
static void expect(char *tok, enum auth_result want, const char *what)
{
    struct auth_identity id;
    enum auth_result got = verify_with(&KEYS, tok, &id);
    ck_assert_msg(got == want, "%s: got %s, wanted %s", what, auth_result_code(got),
                  auth_result_code(want));
    if (got != AUTH_OK)
        ck_assert_str_eq(id.user_id, ""); /* nothing of a refused token leaks out */
    free(tok);
}

START_TEST(test_valid_session)
{
    char *tok = forge(session_payload(UID, 60), SESSION_KEY);
    struct auth_identity id;
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert(!id.is_service);
    ck_assert_str_eq(id.user_id, UID);
    ck_assert_str_eq(id.username, "player1");
    ck_assert_str_eq(id.service, "");
    ck_assert_int_eq(id.exp, NOW + 60);
    /* through the Authorization header too */
    char hdr[1024];
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_OK);
    ck_assert_str_eq(id.user_id, UID);
    free(tok);
    /* the minimal claims of older Nakama versions: uid and exp */
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1800000060}", SESSION_KEY), AUTH_OK, "minimal");
    /* upper-case hex is refused: Nakama issues lower case, and one user has one id */
    expect(forge(session_payload("3F0C5A8E-6D1B-4C2A-9E7F-000000001001", 60), SESSION_KEY),
           AUTH_BAD_UID, "upper-case uuid");
    expect(forge(session_payload("3f0c5a8e-6d1b-4c2a-9e7f-00000000100A", 60), SESSION_KEY),
           AUTH_BAD_UID, "one upper-case digit");
    /* a header without typ, as some JWT libraries write it */
    expect(forge_md("{\"alg\":\"HS256\"}", session_payload(UID, 60), EVP_sha256(), SESSION_KEY),
           AUTH_OK, "no typ");
}
END_TEST

START_TEST(test_minted_round_trip)
{
    char *tok = auth_mint_session(SESSION_KEY, UID, "bob", NOW - 1, NOW + 30);
    ck_assert_ptr_nonnull(tok);
    struct auth_identity id;
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert_str_eq(id.username, "bob");
    free(tok);
    tok = auth_mint_service(SERVICE_KEY, "relay", UID, NOW, NOW + 60);
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert(id.is_service);
    ck_assert_str_eq(id.service, "relay");
    ck_assert_str_eq(id.user_id, UID);
    free(tok);
    ck_assert_ptr_null(auth_mint_session("", UID, "bob", NOW, NOW + 30));
}
END_TEST

START_TEST(test_bearer_header)
{
    char *tok = forge(session_payload(UID, 60), SESSION_KEY);
    char hdr[1024];
    struct auth_identity id;
    ck_assert_int_eq(auth_verify_bearer(&KEYS, NULL, NOW, &id), AUTH_MISSING);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, "", NOW, &id), AUTH_MISSING);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, "Bearer ", NOW, &id), AUTH_MISSING);
    snprintf(hdr, sizeof hdr, "Basic %s", tok);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_BAD_SCHEME);
    snprintf(hdr, sizeof hdr, "Bearer%s", tok);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_BAD_SCHEME);
    snprintf(hdr, sizeof hdr, "%s", tok);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_BAD_SCHEME);
    /* the scheme name is case-insensitive (RFC 9110 §11.1) */
    snprintf(hdr, sizeof hdr, "bearer %s", tok);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s x", tok);
    ck_assert_int_ne(auth_verify_bearer(&KEYS, hdr, NOW, &id), AUTH_OK);
    free(tok);
}
END_TEST

START_TEST(test_alg_pinned)
{
    const char *pl = session_payload(UID, 60);
    expect(forge_md("{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NULL, NULL), AUTH_BAD_ALG,
           "alg none, empty signature");
    expect(forge_md("{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, EVP_sha256(), SESSION_KEY),
           AUTH_BAD_ALG, "alg none with a valid HS256 signature");
    expect(forge_md("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", pl, EVP_sha384(), SESSION_KEY),
           AUTH_BAD_ALG, "HS384 signed with the right key");
    expect(forge_md("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", pl, EVP_sha512(), SESSION_KEY),
           AUTH_BAD_ALG, "HS512 signed with the right key");
    expect(forge_md("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", pl, EVP_sha256(), SESSION_KEY),
           AUTH_BAD_ALG, "hs256");
    expect(forge_md("{\"alg\":\"HS256 \",\"typ\":\"JWT\"}", pl, EVP_sha256(), SESSION_KEY),
           AUTH_BAD_ALG, "HS256 with a space");
    expect(forge_md("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pl, EVP_sha256(), SESSION_KEY),
           AUTH_BAD_ALG, "RS256");
    expect(forge_md("{\"typ\":\"JWT\"}", pl, EVP_sha256(), SESSION_KEY), AUTH_BAD_ALG, "no alg");
    expect(forge_md("{\"alg\":256}", pl, EVP_sha256(), SESSION_KEY), AUTH_BAD_ALG, "alg a number");
    expect(forge_md("{\"alg\":null}", pl, EVP_sha256(), SESSION_KEY), AUTH_BAD_ALG, "alg null");
}
END_TEST

START_TEST(test_signature)
{
    const char *pl = session_payload(UID, 60);
    expect(forge(pl, "not-the-key"), AUTH_BAD_SIGNATURE, "wrong key");
    expect(forge(pl, SERVICE_KEY), AUTH_BAD_SIGNATURE,
           "session claims signed with the service key");
    /* tampered payload: another user id under the original signature */
    char *good = forge(pl, SESSION_KEY);
    char *evil = forge(session_payload("00000000-0000-4000-8000-000000000666", 60), SESSION_KEY);
    char *g3 = strrchr(good, '.'), *e3 = strrchr(evil, '.');
    char tampered[2048];
    snprintf(tampered, sizeof tampered, "%.*s%s", (int)(e3 - evil), evil, g3);
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "tampered payload");
    /* tampered signature: one character changed, cut, lengthened, empty */
    snprintf(tampered, sizeof tampered, "%s", good);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "one signature character changed");
    snprintf(tampered, sizeof tampered, "%.*s", (int)(n - 1), good);
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "signature cut");
    snprintf(tampered, sizeof tampered, "%sAAAA", good);
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "signature lengthened");
    snprintf(tampered, sizeof tampered, "%.*s", (int)(g3 - good + 1), good);
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "signature empty");
    snprintf(tampered, sizeof tampered, "%.*s!%s", (int)(g3 - good + 1), good, g3 + 2);
    expect(strdup(tampered), AUTH_BAD_SIGNATURE, "signature not base64url");
    free(good);
    free(evil);
}
END_TEST

START_TEST(test_expiry)
{
    expect(forge(session_payload(UID, -1), SESSION_KEY), AUTH_EXPIRED, "expired a second ago");
    expect(forge(session_payload(UID, 0), SESSION_KEY), AUTH_EXPIRED, "exp == now");
    expect(forge(session_payload(UID, 1), SESSION_KEY), AUTH_OK, "exp == now + 1");
    expect(forge("{\"uid\":\"" UID "\",\"usn\":\"a\"}", SESSION_KEY), AUTH_NO_EXP, "missing exp");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":\"1900000000\"}", SESSION_KEY), AUTH_NO_EXP,
           "exp as string");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1900000000.5}", SESSION_KEY), AUTH_NO_EXP,
           "exp as real");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":null}", SESSION_KEY), AUTH_NO_EXP, "exp null");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":true}", SESSION_KEY), AUTH_NO_EXP, "exp bool");
    /* the expired identity still reports exp (for logs), nothing else */
    char *tok = forge(session_payload(UID, -100), SESSION_KEY);
    struct auth_identity id;
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_EXPIRED);
    ck_assert_int_eq(id.exp, NOW - 100);
    ck_assert_str_eq(id.user_id, "");
    free(tok);
}
END_TEST

START_TEST(test_leeway)
{
    struct auth_keys k = KEYS;
    struct auth_identity id;
    char *tok = forge(session_payload(UID, -5), SESSION_KEY);
    k.leeway_s = 10;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    k.leeway_s = 5;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_EXPIRED);
    k.leeway_s = 0;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_EXPIRED);
    free(tok);
}
END_TEST

/* exp at the edges of int64 never overflows (UBSan runs this in the sanitizer build). */
START_TEST(test_exp_extremes)
{
    struct auth_keys k = KEYS;
    struct auth_identity id;
    k.leeway_s = 60;
    /* 2^63-1 lives for ever: over any lifetime cap, with or without iat */
    char *tok = forge("{\"uid\":\"" UID "\",\"exp\":9223372036854775807}", SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    free(tok);
    tok = forge("{\"uid\":\"" UID "\",\"iat\":-9223372036854775807,\"exp\":9223372036854775807}",
                SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    free(tok);
    k.max_lifetime_s = INT64_MAX; /* the largest cap still never overflows */
    tok = forge("{\"uid\":\"" UID "\",\"iat\":-9223372036854775807,\"exp\":9223372036854775807}",
                SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    free(tok);
    k.max_lifetime_s = 0;
    tok = forge("{\"uid\":\"" UID "\",\"exp\":-9223372036854775807}", SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_EXPIRED);
    free(tok);
    /* beyond int64: jansson refuses the number, so the payload is not JSON */
    expect(forge("{\"uid\":\"" UID "\",\"exp\":92233720368547758070}", SESSION_KEY), AUTH_MALFORMED,
           "exp beyond int64");
    /* a service token with a huge exp is refused as too long-lived, without overflow */
    tok = forge("{\"svc\":\"relay\",\"exp\":9223372036854775807}", SERVICE_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    free(tok);
}
END_TEST

START_TEST(test_uid)
{
    expect(forge("{\"usn\":\"a\",\"exp\":1800000060}", SESSION_KEY), AUTH_BAD_UID, "missing uid");
    static const char *const bad[] = {"alice",
                                      "",
                                      "3f0c5a8e6d1b4c2a9e7f000000001001",
                                      "{3f0c5a8e-6d1b-4c2a-9e7f-000000001001}",
                                      "3f0c5a8e-6d1b-4c2a-9e7f-00000000100",
                                      "3f0c5a8e-6d1b-4c2a-9e7f-0000000010011",
                                      "3f0c5a8e-6d1b-4c2a-9e7f_000000001001",
                                      "3g0c5a8e-6d1b-4c2a-9e7f-000000001001",
                                      " 3f0c5a8e-6d1b-4c2a-9e7f-00000000100"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect(forge(session_payload(bad[i], 60), SESSION_KEY), AUTH_BAD_UID, bad[i]);
    expect(forge("{\"uid\":42,\"exp\":1800000060}", SESSION_KEY), AUTH_BAD_UID, "uid a number");
    expect(forge("{\"uid\":null,\"exp\":1800000060}", SESSION_KEY), AUTH_BAD_UID, "uid null");
    ck_assert(auth_uuid_is_canonical(UID));
    ck_assert(!auth_uuid_is_canonical("3f0c5a8e-6d1b-4c2a-9e7f-00000000100g"));
}
END_TEST

START_TEST(test_other_claims)
{
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1800000060,\"iat\":\"now\"}", SESSION_KEY),
           AUTH_BAD_CLAIMS, "iat a string");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1800000060,\"usn\":7}", SESSION_KEY),
           AUTH_BAD_CLAIMS, "usn a number");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1800000060,\"vrs\":[1]}", SESSION_KEY),
           AUTH_BAD_CLAIMS, "vrs an array");
    expect(forge("{\"uid\":\"" UID "\",\"exp\":1800000060,\"vrs\":null}", SESSION_KEY), AUTH_OK,
           "vrs null");
    /* vrs never grants anything: a service claim inside it changes nothing */
    char *tok =
        forge("{\"uid\":\"" UID "\",\"exp\":1800000060,\"vrs\":{\"svc\":\"relay\"}}", SESSION_KEY);
    struct auth_identity id;
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert(!id.is_service);
    free(tok);
    /* duplicate claims are refused, not resolved one way or the other */
    expect(forge("{\"uid\":\"" UID "\",\"uid\":\"00000000-0000-4000-8000-000000000666\","
                 "\"exp\":1800000060}",
                 SESSION_KEY),
           AUTH_MALFORMED, "duplicate uid");
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const bad[] = {"abc.def.ghi", "!!!.###.$$$", "a.b",  "a.b.c.d", "..",
                                      "...",         "onlyonepart", ".x.y", "x..y"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect(strdup(bad[i]), AUTH_MALFORMED, bad[i]);
    /* a real token with a part added or removed */
    char *tok = forge(session_payload(UID, 60), SESSION_KEY);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s.%s", tok, strrchr(tok, '.') + 1);
    expect(strdup(buf), AUTH_MALFORMED, "4 parts");
    *strrchr(tok, '.') = '\0';
    expect(strdup(tok), AUTH_MALFORMED, "2 parts");
    free(tok);
    /* base64url of something that is not a JSON object */
    expect(forge_md("[1,2]", session_payload(UID, 60), EVP_sha256(), SESSION_KEY), AUTH_MALFORMED,
           "header an array");
    expect(forge_md("not json", session_payload(UID, 60), EVP_sha256(), SESSION_KEY),
           AUTH_MALFORMED, "header not JSON");
    expect(forge("\"uid\"", SESSION_KEY), AUTH_MALFORMED, "payload a string");
    expect(forge("{\"uid\":", SESSION_KEY), AUTH_MALFORMED, "payload cut");
    /* an embedded NUL */
    struct auth_identity id;
    ck_assert_int_eq(auth_verify_token(&KEYS, "a\0b.c.d", 7, NOW, &id), AUTH_MALFORMED);
    ck_assert_int_eq(auth_verify_token(&KEYS, "", 0, NOW, &id), AUTH_MISSING);
    ck_assert_int_eq(auth_verify_token(&KEYS, NULL, 0, NOW, &id), AUTH_MISSING);
}
END_TEST

/* A valid token of exactly len bytes (a padding claim sized to fit). */
static char *token_of_length(size_t len)
{
    for (size_t pad = len * 3 / 4 > 200 ? len * 3 / 4 - 200 : 0; pad < len; pad++) {
        char *payload = malloc(pad + 128);
        ck_assert_ptr_nonnull(payload);
        int n = snprintf(payload, pad + 128, "{\"uid\":\"%s\",\"exp\":%lld,\"pad\":\"", UID,
                         (long long)(NOW + 60));
        memset(payload + n, 'p', pad);
        memcpy(payload + n + pad, "\"}", 3);
        char *tok = forge(payload, SESSION_KEY);
        free(payload);
        if (strlen(tok) == len)
            return tok;
        if (strlen(tok) > len) {
            free(tok);
            return NULL;
        }
        free(tok);
    }
    return NULL;
}

START_TEST(test_oversized)
{
    char *tok = token_of_length(AUTH_MAX_TOKEN_BYTES);
    ck_assert_ptr_nonnull(tok);
    expect(tok, AUTH_OK, "exactly 8 KiB");
    tok = token_of_length(AUTH_MAX_TOKEN_BYTES + 1);
    if (!tok) /* base64 lengths skip some sizes: then the next one up */
        tok = token_of_length(AUTH_MAX_TOKEN_BYTES + 2);
    ck_assert_ptr_nonnull(tok);
    expect(tok, AUTH_TOO_LARGE, "just over 8 KiB");
    /* 1 MB, never decoded: through the token API and through the header */
    size_t big = 1 << 20;
    char *huge = malloc(big + 8);
    ck_assert_ptr_nonnull(huge);
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'A', big);
    huge[7 + big / 3] = '.';
    huge[7 + 2 * big / 3] = '.';
    huge[7 + big] = '\0';
    struct auth_identity id;
    ck_assert_int_eq(auth_verify_token(&KEYS, huge + 7, big, NOW, &id), AUTH_TOO_LARGE);
    ck_assert_int_eq(auth_verify_bearer(&KEYS, huge, NOW, &id), AUTH_TOO_LARGE);
    free(huge);
}
END_TEST

START_TEST(test_empty_key)
{
    struct auth_keys k = KEYS;
    struct auth_identity id;
    k.session_key = "";
    k.session_key_len = 0;
    /* libjwt would accept any signature with an empty key: we refuse everything */
    char *tok = forge(session_payload(UID, 60), "");
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_BAD_SIGNATURE);
    free(tok);
    tok = forge_md(HS256, session_payload(UID, 60), NULL, NULL);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_BAD_SIGNATURE);
    free(tok);
    tok = forge(session_payload(UID, 60), SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_BAD_SIGNATURE);
    free(tok);
    k.session_key = NULL;
    tok = forge(session_payload(UID, 60), "");
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_BAD_SIGNATURE);
    free(tok);
}
END_TEST

static char *service_token(const char *claims, const char *key)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "{%s%s\"iat\":%lld,\"exp\":%lld}", claims, *claims ? "," : "",
             (long long)NOW, (long long)(NOW + 60));
    return forge(buf, key);
}

START_TEST(test_service_tokens)
{
    struct auth_identity id;
    char *tok = service_token("\"svc\":\"relay\",\"sub\":\"" UID "\"", SERVICE_KEY);
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert(id.is_service);
    ck_assert_str_eq(id.service, "relay");
    ck_assert_str_eq(id.user_id, UID);
    free(tok);
    tok = service_token("\"svc\":\"nakama\"", SERVICE_KEY);
    ck_assert_int_eq(verify_with(&KEYS, tok, &id), AUTH_OK);
    ck_assert_str_eq(id.service, "nakama");
    ck_assert_str_eq(id.user_id, ""); /* acting for nobody */
    free(tok);
    /* signed with the session key: refused (a Nakama key holder cannot mint service tokens) */
    expect(service_token("\"svc\":\"relay\"", SESSION_KEY), AUTH_BAD_SIGNATURE,
           "svc token signed with the session key");
    expect(service_token("\"svc\":\"relay\",\"uid\":\"" UID "\"", SESSION_KEY), AUTH_BAD_SIGNATURE,
           "svc token with uid signed with the session key");
    /* no service key configured */
    struct auth_keys k = KEYS;
    k.service_key = NULL;
    k.service_key_len = 0;
    tok = service_token("\"svc\":\"relay\"", SERVICE_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_NO_KEY);
    k.service_key = "";
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_NO_KEY);
    free(tok);
    /* sub not a UUID */
    expect(service_token("\"svc\":\"relay\",\"sub\":\"alice\"", SERVICE_KEY), AUTH_BAD_UID,
           "sub not a UUID");
    expect(service_token("\"svc\":\"relay\",\"sub\":5", SERVICE_KEY), AUTH_BAD_UID, "sub a number");
    /* svc itself */
    expect(service_token("\"svc\":\"\"", SERVICE_KEY), AUTH_BAD_CLAIMS, "svc empty");
    expect(service_token("\"svc\":1", SERVICE_KEY), AUTH_BAD_CLAIMS, "svc a number");
    expect(service_token("\"svc\":null", SERVICE_KEY), AUTH_BAD_CLAIMS, "svc null");
    /* exp: at most AUTH_MAX_SERVICE_TTL_S ahead */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"svc\":\"relay\",\"exp\":%lld}",
             (long long)(NOW + AUTH_MAX_SERVICE_TTL_S));
    expect(forge(buf, SERVICE_KEY), AUTH_OK, "exp exactly one hour ahead");
    snprintf(buf, sizeof buf, "{\"svc\":\"relay\",\"exp\":%lld}",
             (long long)(NOW + AUTH_MAX_SERVICE_TTL_S + 1));
    expect(forge(buf, SERVICE_KEY), AUTH_BAD_CLAIMS, "exp too far");
    expect(forge("{\"svc\":\"relay\"}", SERVICE_KEY), AUTH_NO_EXP, "svc without exp");
    snprintf(buf, sizeof buf, "{\"svc\":\"relay\",\"exp\":%lld}", (long long)(NOW - 1));
    expect(forge(buf, SERVICE_KEY), AUTH_EXPIRED, "svc expired");
    /* alg pinning holds for service tokens too */
    expect(forge_md("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"svc\":\"relay\",\"exp\":1800000060}",
                    EVP_sha512(), SERVICE_KEY),
           AUTH_BAD_ALG, "svc HS512");
}
END_TEST

START_TEST(test_result_texts)
{
    for (int r = 0; r < AUTH_RESULT_COUNT; r++) {
        ck_assert_ptr_nonnull(auth_result_code((enum auth_result)r));
        ck_assert_ptr_nonnull(auth_result_message((enum auth_result)r));
        ck_assert_str_ne(auth_result_code((enum auth_result)r), "unknown");
        /* codes go into WWW-Authenticate: no quotes or backslashes */
        ck_assert(!strpbrk(auth_result_code((enum auth_result)r), "\"\\"));
        ck_assert(!strpbrk(auth_result_message((enum auth_result)r), "\"\\"));
        for (int s = 0; s < r; s++)
            ck_assert_str_ne(auth_result_code((enum auth_result)r),
                             auth_result_code((enum auth_result)s));
    }
    ck_assert_str_eq(auth_result_code(AUTH_RESULT_COUNT), "unknown");
}
END_TEST

/* Header with a crit list (RFC 7515 §4.1.11): any is refused, as we understand none. */
START_TEST(test_crit)
{
    const char *const headers[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
        "{\"alg\":\"HS256\",\"crit\":[]}",
        "{\"alg\":\"HS256\",\"crit\":\"x\"}",
        "{\"alg\":\"HS256\",\"crit\":null}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++)
        expect(forge_md(headers[i], session_payload(UID, 60), EVP_sha256(), SESSION_KEY), AUTH_CRIT,
               headers[i]);
    /* other unknown header parameters are ignored, as RFC 7515 §4 says */
    expect(forge_md("{\"alg\":\"HS256\",\"kid\":\"k1\",\"x-y\":1}", session_payload(UID, 60),
                    EVP_sha256(), SESSION_KEY),
           AUTH_OK, "unknown non-critical parameter");
}
END_TEST

/* nbf (RFC 7519 §4.1.5) and iat against the clock and the leeway. */
START_TEST(test_nbf_iat)
{
    char buf[256];
    struct auth_keys k = KEYS;
    struct auth_identity id;
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"nbf\":%lld,\"exp\":%lld}", UID,
             (long long)NOW, (long long)(NOW + 60));
    expect(forge(buf, SESSION_KEY), AUTH_OK, "nbf now");
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"nbf\":%lld.5,\"exp\":%lld}", UID,
             (long long)(NOW - 1), (long long)(NOW + 60));
    expect(forge(buf, SESSION_KEY), AUTH_OK, "nbf with a fraction, past");
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"nbf\":%lld,\"exp\":%lld}", UID,
             (long long)(NOW + 30), (long long)(NOW + 60));
    expect(forge(buf, SESSION_KEY), AUTH_NOT_YET_VALID, "nbf in 30 s");
    char *tok = forge(buf, SESSION_KEY);
    k.leeway_s = 30;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    k.leeway_s = 29;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_NOT_YET_VALID);
    free(tok);
    static const char *const bad_nbf[] = {"\"now\"", "null", "true", "[1]", "{}"};
    for (size_t i = 0; i < sizeof bad_nbf / sizeof *bad_nbf; i++) {
        snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"nbf\":%s,\"exp\":%lld}", UID, bad_nbf[i],
                 (long long)(NOW + 60));
        expect(forge(buf, SESSION_KEY), AUTH_BAD_CLAIMS, bad_nbf[i]);
    }
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"iat\":%lld,\"exp\":%lld}", UID,
             (long long)(NOW + 3600), (long long)(NOW + 7200));
    expect(forge(buf, SESSION_KEY), AUTH_NOT_YET_VALID, "iat an hour ahead");
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"iat\":%lld,\"exp\":%lld}", UID,
             (long long)(NOW + 5), (long long)(NOW + 60));
    tok = forge(buf, SESSION_KEY);
    k.leeway_s = 0;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_NOT_YET_VALID);
    k.leeway_s = 5;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    free(tok);
}
END_TEST

/* The lifetime cap: exp - iat, or exp - now without iat. */
START_TEST(test_lifetime)
{
    char buf[256];
    struct auth_keys k = KEYS;
    struct auth_identity id;
    k.max_lifetime_s = 7200;
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"iat\":%lld,\"exp\":%lld}", UID,
             (long long)(NOW - 100), (long long)(NOW - 100 + 7200));
    char *tok = forge(buf, SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    free(tok);
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"iat\":%lld,\"exp\":%lld}", UID,
             (long long)(NOW - 100), (long long)(NOW - 100 + 7201));
    tok = forge(buf, SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    ck_assert_str_eq(id.user_id, "");
    free(tok);
    /* no iat: measured from now */
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"exp\":%lld}", UID, (long long)(NOW + 7200));
    tok = forge(buf, SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    free(tok);
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"exp\":%lld}", UID, (long long)(NOW + 7201));
    tok = forge(buf, SESSION_KEY);
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_TOO_LONG);
    /* the default cap (max_lifetime_s 0) is a day */
    k.max_lifetime_s = 0;
    ck_assert_int_eq(verify_with(&k, tok, &id), AUTH_OK);
    free(tok);
    snprintf(buf, sizeof buf, "{\"uid\":\"%s\",\"exp\":%lld}", UID,
             (long long)(NOW + AUTH_MAX_LIFETIME_DEFAULT_S + 1));
    expect(forge(buf, SESSION_KEY), AUTH_TOO_LONG, "a day and a second");
    ck_assert_int_eq(atoll(AUTH_MAX_LIFETIME_DEFAULT), AUTH_MAX_LIFETIME_DEFAULT_S);
}
END_TEST

/* RFC 7515 §2: base64url without padding; '=' anywhere is refused, even where a lenient
 * decoder would strip it. */
START_TEST(test_padding)
{
    char *tok = forge(session_payload(UID, 60), SESSION_KEY);
    expect(strdup(tok), AUTH_OK, "unpadded");
    size_t n = strlen(tok);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char *padded = malloc(n + 8);
    ck_assert_ptr_nonnull(padded);
    /* '=' after the header part */
    snprintf(padded, n + 8, "%.*s=%s", (int)(dot1 - tok), tok, dot1);
    expect(strdup(padded), AUTH_MALFORMED, "header padded");
    /* '=' after the payload part */
    snprintf(padded, n + 8, "%.*s==%s", (int)(dot2 - tok), tok, dot2);
    expect(strdup(padded), AUTH_MALFORMED, "payload padded");
    /* '=' after the signature */
    snprintf(padded, n + 8, "%s=", tok);
    expect(strdup(padded), AUTH_MALFORMED, "signature padded");
    free(padded);
    free(tok);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("tokens");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_valid_session);
    tcase_add_test(tc, test_minted_round_trip);
    tcase_add_test(tc, test_bearer_header);
    tcase_add_test(tc, test_alg_pinned);
    tcase_add_test(tc, test_signature);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_leeway);
    tcase_add_test(tc, test_exp_extremes);
    tcase_add_test(tc, test_uid);
    tcase_add_test(tc, test_other_claims);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_empty_key);
    tcase_add_test(tc, test_service_tokens);
    tcase_add_test(tc, test_result_texts);
    tcase_add_test(tc, test_crit);
    tcase_add_test(tc, test_nbf_iat);
    tcase_add_test(tc, test_lifetime);
    tcase_add_test(tc, test_padding);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(auth_suite)
