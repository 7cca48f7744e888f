/* h_livekit.h — POST /livekit/token (issue 5): a LiveKit access token for the caller (a
 * Nakama session, or a service token acting for a user through `sub`), for one LiveKit
 * room, signed with the server's LiveKit secret (common/livekit.h) so that no client and no
 * Lua module holds it.  503 when LiveKit is not configured. */
#ifndef ROOMSTATE_H_LIVEKIT_H
#define ROOMSTATE_H_LIVEKIT_H

#include "server/http.h"

enum MHD_Result h_livekit_post(struct http_req *r);

#endif
