/* net_http.h — the relay's plain-HTTP side on its WebSocket port: GET /healthz
 * (200 {"status":"ok"}, 503 {"status":"shutting_down"} while stopping), GET /readyz (200
 * {"status":"ready","instance":id|null}, 503 {"status":"draining",...} while stopping: a
 * proxy's health check), GET /metrics
 * (Prometheus text 0.0.4), 404 for other paths, 405 (Allow: GET) for other methods, and the
 * small JSON refusals {"error": code, "message": text} of WebSocket handshakes.
 * Event-loop only.  A reply's headers go out at once; its body on HTTP_WRITEABLE. */
#ifndef ROOMSTATE_RELAY_NET_HTTP_H
#define ROOMSTATE_RELAY_NET_HTTP_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct fleet;
struct metrics;
struct relay_hub;

/* A body waiting for HTTP_WRITEABLE (lives in the per-connection data). */
struct net_http_reply {
    char *body;
    size_t len;
};

/* LWS_CALLBACK_HTTP: answers uri.  detailed: /metrics includes the per-room and per-client
 * series (labels room and user: room ids and user ids), for the separate metrics address
 * only; without it (the players' port) only totals without identifying labels.  Returns 0,
 * or -1 to close the connection. */
int net_http_route(struct lws *wsi, struct net_http_reply *r, const char *uri, bool stopping,
                   const struct metrics *m, struct relay_hub *hub, const struct fleet *fleet,
                   bool detailed);
/* LWS_CALLBACK_HTTP_WRITEABLE: writes the body and completes the transaction. */
int net_http_writeable(struct lws *wsi, struct net_http_reply *r);
void net_http_reply_clear(struct net_http_reply *r);

/* Writes a complete HTTP/1.1 refusal at once (during a WebSocket handshake, after which lws
 * closes the connection); www_auth: a WWW-Authenticate value or NULL. */
void net_http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message,
                     const char *www_auth);

#endif
