/* auth.c — HS256 JWT verification (Nakama session and service tokens) and minting. */
#include "common/auth.h"

#include "common/b64.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const codes[AUTH_RESULT_COUNT] = {
    [AUTH_OK] = "ok",
    [AUTH_MISSING] = "missing",
    [AUTH_BAD_SCHEME] = "bad_scheme",
    [AUTH_TOO_LARGE] = "too_large",
    [AUTH_MALFORMED] = "malformed",
    [AUTH_BAD_ALG] = "bad_alg",
    [AUTH_BAD_SIGNATURE] = "bad_signature",
    [AUTH_NO_EXP] = "no_exp",
    [AUTH_EXPIRED] = "expired",
    [AUTH_BAD_UID] = "bad_uid",
    [AUTH_BAD_CLAIMS] = "bad_claims",
    [AUTH_NO_KEY] = "no_service_key",
    [AUTH_CRIT] = "unsupported_crit",
    [AUTH_NOT_YET_VALID] = "not_yet_valid",
    [AUTH_TOO_LONG] = "lifetime_too_long",
    [AUTH_REPEATED] = "repeated_credentials",
};

static const char *const messages[AUTH_RESULT_COUNT] = {
    [AUTH_OK] = "the token is valid",
    [AUTH_MISSING] = "no bearer token was sent",
    [AUTH_BAD_SCHEME] = "the Authorization scheme must be Bearer",
    [AUTH_TOO_LARGE] = "the token is larger than 8 KiB",
    [AUTH_MALFORMED] = "the token is not a well-formed JWT",
    [AUTH_BAD_ALG] = "the token must be signed with HS256",
    [AUTH_BAD_SIGNATURE] = "the token signature does not verify",
    [AUTH_NO_EXP] = "the token has no integer exp claim",
    [AUTH_EXPIRED] = "the token has expired",
    [AUTH_BAD_UID] = "the token's user id is not a UUID",
    [AUTH_BAD_CLAIMS] = "the token's claims have the wrong types",
    [AUTH_NO_KEY] = "service tokens are not accepted here",
    [AUTH_CRIT] = "the token names critical header extensions this service does not support",
    [AUTH_NOT_YET_VALID] = "the token is not valid yet (nbf or iat in the future)",
    [AUTH_TOO_LONG] = "the token's lifetime exceeds the configured maximum",
    [AUTH_REPEATED] = "more than one token was sent in one request",
};

const char *auth_result_code(enum auth_result r)
{
    return (unsigned)r < AUTH_RESULT_COUNT ? codes[r] : "unknown";
}

const char *auth_result_message(enum auth_result r)
{
    return (unsigned)r < AUTH_RESULT_COUNT ? messages[r] : "unknown";
}

bool auth_uuid_is_canonical(const char *s)
{
    size_t n = strlen(s);
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool is_dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (is_dash) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Decodes one base64url JSON object part; NULL when it is not one. */
static json_t *decode_json_part(const char *p, size_t len)
{
    unsigned char buf[AUTH_MAX_TOKEN_BYTES];
    if (b64url_decoded_max(len) > sizeof buf)
        return NULL;
    long n = b64url_decode(p, len, buf);
    if (n <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool copy_claim(json_t *payload, const char *name, char *dst, size_t dst_size, bool required,
                       bool *bad)
{
    json_t *v = json_object_get(payload, name);
    if (!v || json_is_null(v)) {
        dst[0] = '\0';
        if (required)
            *bad = true;
        return false;
    }
    if (!json_is_string(v) || json_string_length(v) >= dst_size ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return false;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* nbf, iat and the lifetime (exp is already known to be an integer in the future). */
static enum auth_result check_times(const struct auth_keys *keys, json_t *payload, int64_t exp,
                                    int64_t now_s)
{
    int64_t latest = now_s + keys->leeway_s; /* now_s is a wall clock: no overflow */
    json_t *nbf = json_object_get(payload, "nbf");
    if (nbf) { /* RFC 7519 §4.1.5: a NumericDate, which may have a fraction */
        if (!json_is_number(nbf))
            return AUTH_BAD_CLAIMS;
        if (json_number_value(nbf) > (double)latest)
            return AUTH_NOT_YET_VALID;
    }
    json_t *iat = json_object_get(payload, "iat");
    if (iat && !json_is_integer(iat))
        return AUTH_BAD_CLAIMS;
    int64_t start = now_s;
    if (iat) {
        start = json_integer_value(iat);
        if (start > latest)
            return AUTH_NOT_YET_VALID;
    }
    int64_t max = keys->max_lifetime_s > 0 ? keys->max_lifetime_s : AUTH_MAX_LIFETIME_DEFAULT_S;
    /* exp > start - leeway here; the difference of two int64 fits in a uint64 */
    if (exp > start && (uint64_t)exp - (uint64_t)start > (uint64_t)max)
        return AUTH_TOO_LONG;
    return AUTH_OK;
}

enum auth_result auth_verify_token(const struct auth_keys *keys, const char *token, size_t len,
                                   int64_t now_s, struct auth_identity *out)
{
    enum auth_result rc = AUTH_MALFORMED;
    json_t *header = NULL, *payload = NULL;
    jwt_t *jwt = NULL;
    char *copy = NULL;

    memset(out, 0, sizeof *out);
    if (!token || len == 0)
        return AUTH_MISSING;
    if (len > AUTH_MAX_TOKEN_BYTES)
        return AUTH_TOO_LARGE;
    if (memchr(token, '\0', len) || memchr(token, '=', len))
        return AUTH_MALFORMED; /* unpadded base64url only (RFC 7515 §2) */
    const char *dot1 = memchr(token, '.', len);
    if (!dot1)
        return AUTH_MALFORMED;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return AUTH_MALFORMED;
    size_t hlen = (size_t)(dot1 - token);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    if (hlen == 0 || plen == 0)
        return AUTH_MALFORMED;

    header = decode_json_part(token, hlen);
    payload = decode_json_part(dot1 + 1, plen);
    if (!header || !payload)
        goto out;
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0) {
        rc = AUTH_BAD_ALG;
        goto out;
    }
    if (json_object_get(header, "crit")) { /* RFC 7515 §4.1.11: we understand no extension */
        rc = AUTH_CRIT;
        goto out;
    }

    /* the key follows the kind of token; the signature then proves the kind */
    bool is_service = json_object_get(payload, "svc") != NULL;
    const char *key = is_service ? keys->service_key : keys->session_key;
    size_t key_len = is_service ? keys->service_key_len : keys->session_key_len;
    if (!key || key_len == 0) {
        rc = is_service ? AUTH_NO_KEY : AUTH_BAD_SIGNATURE;
        goto out;
    }

    /* our own constant-time check of the signature */
    unsigned char sig[64], mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (slen == 0 || b64url_decoded_max(slen) > sizeof sig + 3 || slen != 43) {
        rc = AUTH_BAD_SIGNATURE;
        goto out;
    }
    long sig_len = b64url_decode(dot2 + 1, slen, sig);
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)token, hlen + 1 + plen, mac,
              &mac_len) ||
        sig_len != (long)mac_len || CRYPTO_memcmp(sig, mac, mac_len) != 0) {
        rc = AUTH_BAD_SIGNATURE;
        goto out;
    }

    /* and libjwt's, with the algorithm pinned on both sides of the call */
    copy = strndup(token, len);
    if (!copy || jwt_decode(&jwt, copy, (const unsigned char *)key, (int)key_len) != 0 ||
        jwt_get_alg(jwt) != JWT_ALG_HS256) {
        rc = AUTH_BAD_SIGNATURE;
        goto out;
    }

    json_t *exp = json_object_get(payload, "exp");
    if (!json_is_integer(exp)) {
        rc = AUTH_NO_EXP;
        goto out;
    }
    out->exp = json_integer_value(exp);
    if (out->exp <= now_s - keys->leeway_s) { /* no overflow for exp near INT64_MAX */
        rc = AUTH_EXPIRED;
        goto out;
    }
    rc = check_times(keys, payload, out->exp, now_s);
    if (rc != AUTH_OK)
        goto out;

    bool bad = false;
    out->is_service = is_service;
    if (is_service) {
        copy_claim(payload, "svc", out->service, sizeof out->service, true, &bad);
        if (bad || out->service[0] == '\0') {
            rc = AUTH_BAD_CLAIMS;
            goto out;
        }
        if (out->exp > now_s + AUTH_MAX_SERVICE_TTL_S + keys->leeway_s) {
            rc = AUTH_BAD_CLAIMS; /* service tokens are short-lived by contract */
            goto out;
        }
        if (copy_claim(payload, "sub", out->user_id, sizeof out->user_id, false, &bad) &&
            !auth_uuid_is_canonical(out->user_id)) {
            rc = AUTH_BAD_UID;
            goto out;
        }
        if (bad) {
            rc = AUTH_BAD_UID;
            goto out;
        }
        copy_claim(payload, "usn", out->username, sizeof out->username, false, &bad);
    } else {
        copy_claim(payload, "uid", out->user_id, sizeof out->user_id, true, &bad);
        if (bad || !auth_uuid_is_canonical(out->user_id)) {
            rc = AUTH_BAD_UID;
            goto out;
        }
        copy_claim(payload, "usn", out->username, sizeof out->username, false, &bad);
        char tid[129];
        copy_claim(payload, "tid", tid, sizeof tid, false, &bad);
        json_t *vrs = json_object_get(payload, "vrs");
        if (vrs && !json_is_object(vrs) && !json_is_null(vrs))
            bad = true;
    }
    rc = bad ? AUTH_BAD_CLAIMS : AUTH_OK;

out:
    if (rc != AUTH_OK) {
        bool keep_exp = rc == AUTH_EXPIRED;
        int64_t e = out->exp;
        memset(out, 0, sizeof *out);
        if (keep_exp)
            out->exp = e;
    }
    jwt_free(jwt);
    free(copy);
    json_decref(header);
    json_decref(payload);
    return rc;
}

enum auth_result auth_verify_bearer(const struct auth_keys *keys, const char *header, int64_t now_s,
                                    struct auth_identity *out)
{
    memset(out, 0, sizeof *out);
    if (!header || !*header)
        return AUTH_MISSING;
    size_t n = strlen(header);
    if (n > AUTH_MAX_TOKEN_BYTES + 64)
        return AUTH_TOO_LARGE;
    if (n < 7 || strncasecmp(header, "Bearer ", 7) != 0)
        return AUTH_BAD_SCHEME;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t tl = strlen(t);
    while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
        tl--;
    return auth_verify_token(keys, t, tl, now_s, out);
}

static char *mint(const char *key, const char *grants_json)
{
    jwt_t *jwt = NULL;
    char *tok = NULL;
    if (!key || !*key || jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grants_json(jwt, grants_json) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)strlen(key)) == 0)
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    return tok;
}

char *auth_mint_session(const char *key, const char *uid, const char *username, int64_t iat,
                        int64_t exp)
{
    json_t *g = json_pack("{s:s, s:s, s:s, s:I, s:I}", "tid",
                          "00000000-0000-4000-8000-000000000000", "uid", uid, "usn",
                          username ? username : "", "iat", (json_int_t)iat, "exp", (json_int_t)exp);
    if (!g)
        return NULL;
    char *s = json_dumps(g, JSON_COMPACT);
    json_decref(g);
    char *tok = s ? mint(key, s) : NULL;
    free(s);
    return tok;
}

char *auth_mint_service(const char *key, const char *svc, const char *sub, int64_t iat, int64_t exp)
{
    json_t *g =
        json_pack("{s:s, s:I, s:I}", "svc", svc, "iat", (json_int_t)iat, "exp", (json_int_t)exp);
    if (!g)
        return NULL;
    if (sub && *sub)
        json_object_set_new(g, "sub", json_string(sub));
    char *s = json_dumps(g, JSON_COMPACT);
    json_decref(g);
    char *tok = s ? mint(key, s) : NULL;
    free(s);
    return tok;
}
