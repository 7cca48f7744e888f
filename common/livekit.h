/* livekit.h — LiveKit access tokens (HS256 JWT signed with the LiveKit API secret), so
 * that no client and no Lua module ever holds the secret (the plan's Phase 1.1/1.2).
 * Claims: iss = API key, sub = identity (the Nakama user id), name = username, nbf, exp,
 * jti, video = {room, roomJoin, canPublish, canSubscribe, canPublishData}. */
#ifndef ROOMSTATE_LIVEKIT_H
#define ROOMSTATE_LIVEKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIVEKIT_ROOM_MAX 256 /* bytes of a LiveKit room name we accept */

struct livekit_config {
    const char *api_key;    /* LIVEKIT_API_KEY */
    const char *api_secret; /* LIVEKIT_API_SECRET or the file LIVEKIT_API_SECRET_FILE */
    const char *url;        /* LIVEKIT_URL, e.g. wss://livekit.example.com */
    int64_t ttl_s;          /* token lifetime */
};

/* True when key, secret and URL are all set (non-empty). */
bool livekit_configured(const struct livekit_config *cfg);

/* True for a room name we sign a grant for: 1..LIVEKIT_ROOM_MAX bytes of printable ASCII
 * without spaces, quotes or backslashes. */
bool livekit_room_name_valid(const char *room, size_t len);

/* Mints a token for identity/username in room, valid from now_s for cfg->ttl_s.  Returns a
 * malloc'd token (caller frees) and sets *expires_at_s, or NULL. */
char *livekit_token_mint(const struct livekit_config *cfg, const char *room, const char *identity,
                         const char *username, int64_t now_s, int64_t *expires_at_s);

#endif
