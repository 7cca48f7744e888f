/* livekit.c — LiveKit access-token minting with libjwt (HS256 pinned). */
#include "common/livekit.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool livekit_configured(const struct livekit_config *cfg)
{
    return cfg && cfg->api_key && *cfg->api_key && cfg->api_secret && *cfg->api_secret &&
           cfg->url && *cfg->url;
}

bool livekit_room_name_valid(const char *room, size_t len)
{
    if (!room || len == 0 || len > LIVEKIT_ROOM_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)room[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

char *livekit_token_mint(const struct livekit_config *cfg, const char *room, const char *identity,
                         const char *username, int64_t now_s, int64_t *expires_at_s)
{
    char *tok = NULL, *grants = NULL;
    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    unsigned char rnd[12];
    char jti[2 * sizeof rnd + 1];

    if (!livekit_configured(cfg) || !livekit_room_name_valid(room, strlen(room)) || !identity ||
        !*identity)
        return NULL;
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
    int64_t exp = now_s + cfg->ttl_s;
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:{s:s, s:b, s:b, s:b, s:b}}", "iss",
                       cfg->api_key, "sub", identity, "name", username ? username : "", "nbf",
                       (json_int_t)now_s, "exp", (json_int_t)exp, "jti", jti, "video", "room", room,
                       "roomJoin", 1, "canPublish", 1, "canSubscribe", 1, "canPublishData", 1);
    if (!claims)
        goto out;
    grants = json_dumps(claims, JSON_COMPACT);
    if (!grants || jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, grants) != 0)
        goto out;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg->api_secret,
                    (int)strlen(cfg->api_secret)) != 0)
        goto out;
    tok = jwt_encode_str(jwt);
    if (tok && expires_at_s)
        *expires_at_s = exp;
out:
    jwt_free(jwt);
    free(grants);
    json_decref(claims);
    return tok;
}
