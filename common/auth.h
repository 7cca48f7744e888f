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
 * claim (exp included) is checked by us, as libjwt checks none. */
#ifndef ROOMSTATE_AUTH_H
#define ROOMSTATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_TOKEN_BYTES 8192
#define AUTH_MAX_SERVICE_TTL_S 3600                 /* a service token may live at most one hour */
#define AUTH_DEV_SESSION_KEY "defaultencryptionkey" /* Nakama's development default */

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
    AUTH_RESULT_COUNT
};

struct auth_keys {
    const char *session_key; /* non-empty */
    size_t session_key_len;
    const char *service_key; /* NULL/empty: service tokens refused */
    size_t service_key_len;
    int64_t leeway_s; /* clock leeway for exp, default 0 */
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

/* True when s is a canonical lowercase-or-uppercase 8-4-4-4-12 hex UUID. */
bool auth_uuid_is_canonical(const char *s);

/* Mints tokens with libjwt (for the token tool, tests and service calls).  Returns a
 * malloc'd string the caller frees, or NULL. */
char *auth_mint_session(const char *key, const char *uid, const char *username, int64_t iat,
                        int64_t exp);
char *auth_mint_service(const char *key, const char *svc, const char *sub, int64_t iat,
                        int64_t exp);

#endif
