/* ws_handshake.h — the checks of a WebSocket handshake before the upgrade, in the order the
 * relay answers them: the route (/rooms/{id}: 404), an extension offer lws cannot parse (400),
 * the credential (ws_token.c: 400 repeated, 431 cut, 401 missing or invalid; a service token
 * is refused too), the room id (400), a relay that is stopping (503).  Each refusal is an
 * HTTP answer written on wsi (net_http_refuse) and counted in the metrics. */
#ifndef ROOMSTATE_RELAY_WS_HANDSHAKE_H
#define ROOMSTATE_RELAY_WS_HANDSHAKE_H

#include "common/auth.h"
#include "relay/metrics.h"
#include "relay/room.h"

#include <libwebsockets.h>
#include <stdbool.h>

/* 0: admitted, room_id and ident filled; otherwise the refusal was written (return it to
 * lws as a non-zero filter result). */
int ws_admit(struct lws *wsi, const struct auth_keys *keys, struct metrics *m, bool stopping,
             char room_id[RELAY_MAX_ROOM_ID + 1], struct auth_identity *ident);

#endif
