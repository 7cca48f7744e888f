/* auth.h — bearer-token verification shared by the server and the relay.
 *
 * Two kinds of HS256 JWT are accepted:
 *  - Nakama session tokens (claims uid, usn, exp; optional tid, iat, vrs), signed with
 *    Nakama's session.encryption_key;
 *  - service tokens (claims svc, optional sub, exp) signed with a separate service key,
 *    for server-to-server calls (the relay, Nakama's runtime).
 * A token that carries an `svc` claim is a service token and is checked against the
 * service key only; any other token against the session key only.
 *
 * libjwt 1.10.2 pitfalls guarded here: the token's size is checked before any decoding;
 * the header's alg is pinned to exactly "HS256" before libjwt sees the token (libjwt takes
 * the algorithm from the token) and checked again after; an empty key is refused (libjwt
 * would accept any signature); the signature is compared in constant time by us; every
 * claim (exp included) is checked by us, as libjwt checks none.
 *
 * Strict on purpose: base64url without `=` padding only (RFC 7515 §2); a `crit` header is
 * refused, as we understand no extension (RFC 7515 §4.1.11); `nbf` must be a number not in
 * the future (RFC 7519 §4.1.5), `iat` an integer not in the future (both with the leeway);
 * `uid` must be a lower-case canonical UUID (as Nakama issues it: one user, one spelling);
 * exp - iat (exp - now without iat) may not exceed max_lifetime_s. */
#ifndef ROOMSTATE_AUTH_H
#define ROOMSTATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_TOKEN_BYTES 8192
#define AUTH_MAX_SERVICE_TTL_S 3600                 /* a service token may live at most one hour */
#define AUTH_DEV_SESSION_KEY "defaultencryptionkey" /* Nakama's development default */
/* Default --max-token-lifetime: a day.  Nakama's session.token_expiry_sec is 60 s by default
 * and games raise it to hours; a token living longer than a day is refused. */
#define AUTH_MAX_LIFETIME_DEFAULT_S 86400
#define AUTH_MAX_LIFETIME_DEFAULT "86400" /* the same, as config text */

enum auth_result {
    AUTH_OK = 0,
    AUTH_MISSING,       /* no Authorization header / no token */
    AUTH_BAD_SCHEME,    /* not "Bearer <token>" */
    AUTH_TOO_LARGE,     /* over AUTH_MAX_TOKEN_BYTES */
    AUTH_MALFORMED,     /* not three base64url parts with JSON header and payload */
    AUTH_BAD_ALG,       /* header alg is not exactly HS256 */
    AUTH_BAD_SIGNATURE, /* signature does not verify */
    AUTH_NO_EXP,        /* exp missing or not an integer */
    AUTH_EXPIRED,       /* exp in the past (beyond the leeway) */
    AUTH_BAD_UID,       /* uid (or a service token's sub) is not a canonical UUID */
    AUTH_BAD_CLAIMS,    /* another claim has the wrong type or shape */
    AUTH_NO_KEY,        /* service token, but no service key configured */
    AUTH_CRIT,          /* the header names critical extensions (we understand none) */
    AUTH_NOT_YET_VALID, /* nbf or iat in the future (beyond the leeway) */
    AUTH_TOO_LONG,      /* lifetime over max_lifetime_s */
    AUTH_REPEATED,      /* more than one credential in one request (RFC 6750 §2) */
    AUTH_RESULT_COUNT
};

struct auth_keys {
    const char *session_key; /* non-empty */
    size_t session_key_len;
    const char *service_key; /* NULL/empty: service tokens refused */
    size_t service_key_len;
    int64_t leeway_s;       /* clock leeway for exp, nbf and iat, default 0 */
    int64_t max_lifetime_s; /* longest token lifetime; 0: AUTH_MAX_LIFETIME_DEFAULT_S */
};

struct auth_identity {
    bool is_service;
    char user_id[37];   /* uid, or a service token's sub; "" when a service acts for nobody */
    char username[129]; /* usn ("" when absent) */
    char service[65];   /* svc for service tokens, "" otherwise */
    int64_t exp;
};

/* Verifies a raw token.  now_s: seconds since the epoch. */
enum auth_result auth_verify_token(const struct auth_keys *keys, const char *token, size_t len,
                                   int64_t now_s, struct auth_identity *out)
    __attribute__((warn_unused_result));

/* Verifies an Authorization header value ("Bearer <token>"); NULL means missing. */
enum auth_result auth_verify_bearer(const struct auth_keys *keys, const char *header, int64_t now_s,
                                    struct auth_identity *out) __attribute__((warn_unused_result));

/* Short stable code for metrics and WWW-Authenticate, e.g. "expired". */
const char *auth_result_code(enum auth_result r);
/* Human sentence for error_description / problem detail. */
const char *auth_result_message(enum auth_result r);

/* True when s is a canonical lower-case 8-4-4-4-12 hex UUID (upper case is refused: the
 * same user would otherwise have two ids). */
bool auth_uuid_is_canonical(const char *s);

/* Mints tokens with libjwt (for the token tool, tests and service calls).  Returns a
 * malloc'd string the caller frees, or NULL. */
char *auth_mint_session(const char *key, const char *uid, const char *username, int64_t iat,
                        int64_t exp);
char *auth_mint_service(const char *key, const char *svc, const char *sub, int64_t iat,
                        int64_t exp);

#endif
