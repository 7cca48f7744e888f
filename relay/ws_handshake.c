/* ws_handshake.c — whether a WebSocket handshake may open a room connection (ws_handshake.h). */
#include "relay/ws_handshake.h"

#include "common/log.h"
#include "common/roomdoc.h"
#include "relay/net_http.h"
#include "relay/ws_token.h"

#include <stdio.h>
#include <string.h>

#define ROOM_PREFIX "/rooms/"

int ws_admit(struct lws *wsi, const struct auth_keys *keys, struct metrics *m, bool stopping,
             char room_id[RELAY_MAX_ROOM_ID + 1], struct auth_identity *ident)
{
    char uri[512];
    int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    if (n <= 0 || strncmp(uri, ROOM_PREFIX, strlen(ROOM_PREFIX)) != 0 ||
        strchr(uri + strlen(ROOM_PREFIX), '/')) {
        metrics_reject(m, "not_found");
        net_http_refuse(wsi, 404, "not_found", "rooms are at /rooms/{room_id}", NULL);
        return 1;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_EXTENSIONS) >= WS_TOKEN_EXT_MAX) {
        /* lws 4.1.6 fails such a handshake without an answer; we negotiate no extension */
        metrics_reject(m, "bad_request");
        net_http_refuse(wsi, 400, "extensions_too_long",
                        "Sec-WebSocket-Extensions is limited to 254 bytes; this relay negotiates "
                        "no extension, send none",
                        NULL);
        return 1;
    }
    const char *room = uri + strlen(ROOM_PREFIX);
    struct auth_identity id;
    memset(&id, 0, sizeof id);
    enum auth_result r = ws_check_token(wsi, keys, &id);
    if (r == AUTH_OK && id.is_service)
        r = AUTH_BAD_CLAIMS;
    if (r == AUTH_REPEATED) { /* RFC 6750 §3.1: invalid_request, 400 */
        metrics_reject(m, "bad_request");
        net_http_refuse(wsi, 400, "repeated_credentials", auth_result_message(r),
                        "Bearer realm=\"roomstate\", error=\"invalid_request\"");
        return 1;
    }
    if (r == WS_TOKEN_CUT) { /* RFC 6585 §5 */
        metrics_reject(m, "headers_too_large");
        net_http_refuse(wsi, 431, "headers_too_large",
                        "the credential is longer than the relay reads (16 KiB)", NULL);
        return 1;
    }
    if (r != AUTH_OK) {
        char hdr[256];
        if (r == AUTH_MISSING)
            snprintf(hdr, sizeof hdr, "Bearer realm=\"roomstate\"");
        else
            snprintf(hdr, sizeof hdr,
                     "Bearer realm=\"roomstate\", error=\"invalid_token\", "
                     "error_description=\"%s\"",
                     auth_result_message(r));
        log_info("relay: handshake refused: token %s", auth_result_code(r));
        metrics_reject(m, "unauthorized");
        net_http_refuse(
            wsi, 401, "unauthorized",
            r == AUTH_MISSING ? "a Nakama session token is required" : auth_result_message(r), hdr);
        return 1;
    }
    if (!roomdoc_room_id_valid(room, strlen(room))) {
        metrics_reject(m, "bad_room_id");
        net_http_refuse(wsi, 400, "bad_room_id",
                        "room ids match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", NULL);
        return 1;
    }
    if (stopping) {
        metrics_reject(m, "shutting_down");
        net_http_refuse(wsi, 503, "shutting_down", "the relay is shutting down", NULL);
        return 1;
    }
    snprintf(room_id, RELAY_MAX_ROOM_ID + 1, "%s", room);
    *ident = id;
    return 0;
}
