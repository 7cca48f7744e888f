/* h_livekit.c — POST /livekit/token (see h_livekit.h). */
#include "server/h_livekit.h"

#include "common/clock.h"
#include "common/livekit.h"
#include "server/reply.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result h_livekit_post(struct http_req *r)
{
    const struct livekit_config *lk = &r->srv->livekit;
    char expires[CLOCK_RFC3339_LEN];
    int64_t expires_at = 0;
    if (!livekit_configured(lk))
        return reply_problem(r, REPLY_SERVICE_UNAVAILABLE,
                             "LiveKit is not configured on this server (LIVEKIT_API_KEY, "
                             "LIVEKIT_API_SECRET, LIVEKIT_URL)",
                             NULL, NULL);
    json_t *room = json_is_object(r->json) ? json_object_get(r->json, "room") : NULL;
    if (!json_is_string(room) ||
        !livekit_room_name_valid(json_string_value(room), json_string_length(room))) {
        json_t *errs = json_pack("{s:[{s:s, s:s}]}", "errors", "path", "room", "message",
                                 "room must be a string of 1 to 256 printable ASCII "
                                 "characters without spaces, quotes or backslashes");
        return reply_problem(r, REPLY_INVALID_DOCUMENT, "the request names no valid room", errs,
                             NULL);
    }
    if (!r->id.user_id[0])
        return reply_problem(r, REPLY_BAD_REQUEST,
                             "a service token must act for a user (sub) to get a LiveKit token",
                             NULL, NULL);
    char *tok = livekit_token_mint(lk, json_string_value(room), r->id.user_id, r->id.username,
                                   clock_wall_ms() / 1000, &expires_at);
    if (!tok)
        return reply_problem(r, REPLY_INTERNAL, "could not sign the LiveKit token", NULL, NULL);
    clock_rfc3339(expires_at * 1000, expires);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "token", tok, "url", lk->url, "identity",
                             r->id.user_id, "expires_at", expires);
    free(tok);
    return reply_json(r, MHD_HTTP_OK, body, NULL);
}
