/* ws_token.h — the credential of a WebSocket handshake: the Authorization header or the
 * ?token= argument, exactly one of them, once (RFC 6750 §2), verified by common/auth. */
#ifndef ROOMSTATE_RELAY_WS_TOKEN_H
#define ROOMSTATE_RELAY_WS_TOKEN_H

#include "common/auth.h"

#include <libwebsockets.h>

/* lws cuts every header (and every argument of the request target) at this length (its
 * token limits, set by ws.c) instead of overflowing its header buffer, which would drop the
 * connection without an answer: a credential that long was cut and is answered 431
 * (RFC 6585 §5).  Shorter ones are read whole; one over AUTH_MAX_TOKEN_BYTES gets the
 * verifier's 401, as on the server. */
#define WS_TOKEN_HDR_LIMIT 16384
/* lws 4.1.6's extension-offer parser fails a handshake silently at this length. */
#define WS_TOKEN_EXT_MAX 255
/* ws_check_token's answer for a credential lws cut. */
#define WS_TOKEN_CUT AUTH_RESULT_COUNT

/* The auth result of the handshake's credential (id filled when AUTH_OK); AUTH_REPEATED for
 * two credentials (answer 400), WS_TOKEN_CUT for one lws cut (answer 431). */
enum auth_result ws_check_token(struct lws *wsi, const struct auth_keys *keys,
                                struct auth_identity *id);

#endif
