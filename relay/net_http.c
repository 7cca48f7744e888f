/* net_http.c — /healthz, /metrics and handshake refusals on the relay's port (see
 * net_http.h). */
#include "relay/net_http.h"

#include "common/grow.h"

#include "relay/fleet.h"
#include "relay/metrics.h"
#include "relay/room.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *json_error_body(const char *code, const char *message, size_t *len)
{
    json_t *j = json_pack("{s:s, s:s}", "error", code, "message", message);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s)
        *len = strlen(s);
    return s;
}

static const char *status_text(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* Writes a complete small HTTP/1.1 response at once while refusing a handshake (lws then
 * closes the connection).  Written raw: during the upgrade lws would label it HTTP/1.0. */
void net_http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message,
                     const char *www_auth)
{
    unsigned char buf[LWS_PRE + 2048];
    char *start = (char *)buf + LWS_PRE;
    size_t room = sizeof buf - LWS_PRE;
    size_t blen = 0;
    char *body = json_error_body(code, message, &blen);
    if (!body)
        return;
    int n = snprintf(start, room,
                     "HTTP/1.1 %u %s\r\ncontent-type: application/json\r\n"
                     "content-length: %zu\r\n%s%s%sconnection: close\r\n\r\n%s",
                     status, status_text(status), blen, www_auth ? "www-authenticate: " : "",
                     www_auth ? www_auth : "", www_auth ? "\r\n" : "", body);
    free(body);
    if (n <= 0 || (size_t)n >= room)
        return;
    (void)lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP);
}

/* Starts an HTTP reply; the body goes out on HTTP_WRITEABLE.  Takes body. */
static int http_reply(struct net_http_reply *p, struct lws *wsi, unsigned status, const char *ctype,
                      char *body, size_t len, const char *allow)
{
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *q = start, *end = buf + sizeof buf - 1;
    free(p->body);
    p->body = body;
    p->len = len;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &q, end))
        return 1;
    if (allow && lws_add_http_header_by_name(
                     wsi, (const unsigned char *)"allow:", (const unsigned char *)allow,
                     (int)strlen(allow), &q, end))
        return 1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &q, end))
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &q, end))
        return 1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_json_error(struct net_http_reply *p, struct lws *wsi, unsigned status,
                           const char *code, const char *message, const char *allow)
{
    size_t len = 0;
    char *body = json_error_body(code, message, &len);
    if (!body)
        return 1;
    return http_reply(p, wsi, status, "application/json", body, len, allow);
}

struct room_list {
    struct metrics_room *items;
    size_t count, cap;
};

static void collect_room(struct relay_room *room, void *ud)
{
    struct room_list *rl = ud;
    if (rl->count == rl->cap)
        return;
    const struct relay_counters *c = relay_room_counters(room);
    struct metrics_room *m = &rl->items[rl->count++];
    m->room_id = relay_room_id(room);
    m->clients = (unsigned)relay_room_peer_count(room);
    m->bytes_in = c ? c->bytes_in : 0;
    m->bytes_out = c ? c->bytes_out : 0;
    m->fanout = relay_room_fanout(room);
}

struct client_list {
    struct metrics_client *items;
    size_t count, cap;
    const char *room_id; /* of the room being walked */
};

static void collect_client(struct relay_peer *peer, void *ud)
{
    struct client_list *cl = ud;
    if (cl->count == cl->cap)
        return;
    struct metrics_client *c = &cl->items[cl->count++];
    c->room_id = cl->room_id;
    c->user_id = relay_peer_user_id(peer);
    c->stats = relay_peer_stats(peer);
    c->queued_bytes = relay_peer_queued_bytes(peer);
}

static void collect_room_clients(struct relay_room *room, void *ud)
{
    struct client_list *cl = ud;
    cl->room_id = relay_room_id(room);
    relay_room_foreach_peer(room, collect_client, cl);
}

/* /readyz: whether a proxy should send players here. */
static int readyz(struct net_http_reply *p, struct lws *wsi, bool stopping,
                  const struct fleet *fleet)
{
    json_t *j = json_pack("{ssso}", "status", stopping ? "draining" : "ready", "instance",
                          fleet ? json_string(fleet_instance(fleet)) : json_null());
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return 1;
    return http_reply(p, wsi, stopping ? 503 : 200, "application/json", body, strlen(body), NULL);
}

/* The most text /metrics renders (bytes): far above what the room and client caps give. */
#define METRICS_MAX_TEXT ((size_t)64 << 20)

/* The rules' and transport's figures, then the fleet's. */
static char *render_all(const struct metrics *m, const struct metrics_gauges *g,
                        const struct fleet *fleet, size_t *len)
{
    char *body = metrics_render(m, g, len);
    size_t flen = 0;
    char *fb = body && fleet ? fleet_metrics_render(fleet, &flen) : NULL;
    size_t cap = *len + 1; /* the rendered text and its NUL */
    if (fb && grow_array(&body, &cap, *len + flen + 1, 1, cap, METRICS_MAX_TEXT) == 0) {
        memcpy(body + *len, fb, flen + 1);
        *len += flen;
    }
    free(fb);
    return body;
}

int net_http_route(struct lws *wsi, struct net_http_reply *p, const char *uri, bool stopping,
                   const struct metrics *m, struct relay_hub *hub, const struct fleet *fleet,
                   bool detailed)
{
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool healthz = !strcmp(uri, "/healthz"), metrics = !strcmp(uri, "/metrics");
    if (get && !strcmp(uri, "/readyz"))
        return readyz(p, wsi, stopping, fleet);
    if (!healthz && !metrics && strcmp(uri, "/readyz") != 0)
        return http_json_error(p, wsi, 404, "not_found",
                               detailed ? "no such path (here: /metrics and /healthz)"
                                        : "no such path (rooms are WebSocket: "
                                          "ws://HOST:PORT/rooms/{id})",
                               NULL);
    if (!get)
        return http_json_error(p, wsi, 405, "method_not_allowed", "use GET", "GET");
    if (healthz) {
        const char *b = stopping ? "{\"status\":\"shutting_down\"}" : "{\"status\":\"ok\"}";
        char *body = strdup(b);
        if (!body)
            return 1;
        return http_reply(p, wsi, stopping ? 503 : 200, "application/json", body, strlen(body),
                          NULL);
    }
    struct metrics_gauges g = {0};
    struct room_list rl = {0};
    g.rooms = (unsigned)relay_hub_room_count(hub);
    g.clients = (unsigned)relay_hub_peer_count(hub);
    g.hub = relay_hub_counters(hub);
    rl.cap = detailed ? relay_hub_room_count(hub) : 0; /* room ids: the metrics address only */
    if (rl.cap > METRICS_MAX_ROOMS_RENDERED)
        rl.cap = METRICS_MAX_ROOMS_RENDERED;
    rl.items = rl.cap ? calloc(rl.cap, sizeof *rl.items) : NULL;
    if (rl.items)
        relay_hub_foreach_room(hub, collect_room, &rl);
    g.per_room = rl.items;
    g.per_room_count = rl.count;
    struct client_list cl = {0};
    cl.cap = detailed ? relay_hub_peer_count(hub) : 0; /* user ids: the metrics address only */
    if (cl.cap > METRICS_MAX_CLIENTS_RENDERED)
        cl.cap = METRICS_MAX_CLIENTS_RENDERED;
    cl.items = cl.cap ? calloc(cl.cap, sizeof *cl.items) : NULL;
    if (cl.items)
        relay_hub_foreach_room(hub, collect_room_clients, &cl);
    g.per_client = cl.items;
    g.per_client_count = cl.count;
    size_t len = 0;
    char *body = render_all(m, &g, fleet, &len);
    free(cl.items);
    free(rl.items);
    if (!body)
        return 1;
    return http_reply(p, wsi, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, NULL);
}

int net_http_writeable(struct lws *wsi, struct net_http_reply *p)
{
    if (!p->body)
        return 0;
    /* lws buffers what the socket does not take at once and flushes it before the next
     * writeable callback. */
    unsigned char *buf = malloc(LWS_PRE + p->len + 1);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, p->body, p->len);
    int n = lws_write(wsi, buf + LWS_PRE, p->len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    free(p->body);
    p->body = NULL;
    if (n < 0)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

void net_http_reply_clear(struct net_http_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
