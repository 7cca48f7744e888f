/* ws.c — the relay's libwebsockets transport: the WebSocket handshake (its checks in
 * ws_handshake.c), message reassembly with a bound, binary frames refused, the write path
 * (SERVER_WRITEABLE only), the tick timer and graceful shutdown.  The room rules (floods and
 * bad input included) live in relay/room.c; /healthz and /metrics in relay/net_http.c;
 * persistence glue in relay/net_persist.c. */
#include "relay/ws.h"

#include "common/clock.h"
#include "common/grow.h"
#include "common/log.h"
#include "common/roomdoc.h"
#include "relay/fleet.h"
#include "relay/loadgauge.h"
#include "relay/metrics.h"
#include "relay/net_http.h"
#include "relay/net_persist.h"
#include "relay/persist.h"
#include "relay/room.h"
#include "relay/ws_handshake.h"
#include "relay/ws_token.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_RX_INITIAL 4096 /* first reassembly buffer; doubles up to max_frame_bytes */
#define WS_RX_KEEP 16384   /* a larger buffer is freed after its message */

struct ws_server {
    struct ws_config cfg;
    struct relay_config rules_cfg;
    struct lws_context *ctx;
    struct metrics metrics;
    struct relay_hub *hub;
    struct net_persist *np; /* NULL: persistence off */
    struct fleet *fleet;    /* NULL: no leases or checkpoints */
    lws_sorted_usec_list_t tick_sul;
    lws_usec_t tick_us;
    int64_t tick_due_us;              /* the next tick on the fixed grid (CLOCK_MONOTONIC, us) */
    lws_sorted_usec_list_t flush_sul; /* leading-edge flush, right after the current pass */
    bool flush_scheduled;
    int64_t last_flush_ns;
    struct loadgauge load;       /* sampled at every tick: the flush spacing follows it */
    struct lws_dll2_owner peers; /* open WebSocket connections */
    bool stopping;
    bool evlib;                  /* libev (epoll) loop: lws_service runs until broken */
    volatile sig_atomic_t *stop; /* ws_server_run's flag */
    int64_t drain_deadline_ns;   /* while stopping */
    bool done;                   /* drained (or the bound passed): leave the loop */
};

/* SIGINT seen by the event library's own watcher (libev installs one). */
static volatile sig_atomic_t evlib_signal;

/* Per-connection data (lws allocates it zeroed, one per wsi, for HTTP and ws alike). */
struct ws_peer {
    struct ws_server *srv;
    struct lws *wsi;
    struct lws_dll2 node;
    bool ws_open;
    struct net_http_reply http; /* HTTP reply waiting for HTTP_WRITEABLE */
    /* handshake results */
    char room_id[RELAY_MAX_ROOM_ID + 1];
    struct auth_identity ident;
    /* message reassembly (max_frame_bytes) */
    char *rx;
    size_t rx_len, rx_cap; /* rx_cap <= max_frame_bytes */
    bool rx_drop;          /* rest of this message is discarded */
    bool rx_binary;        /* this message is binary */
    unsigned binary_count;
    /* transport ERROR frames waiting to be written (bounded), with LWS_PRE headroom */
    unsigned char *ctl[WS_CTL_MAX];
    size_t ctl_len[WS_CTL_MAX];
    unsigned ctl_head, ctl_count;
    /* a close decided by the transport itself (the rules' closes come through the outbox) */
    bool close_req;
    int close_code;
    char close_reason[32];
    bool peer_sent_close;
    bool we_close;         /* the relay itself asked lws for this close (lws_close_reason) */
    struct relay_peer *rp; /* the rules' handle, NULL until joined */
};

static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 15,   /* ping an idle peer */
    .secs_since_valid_hangup = 30, /* and drop it (no close frame: the grace applies) */
};

static int64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* ---------- transport-level errors and closes ---------- */

static void peer_ctl_clear(struct ws_peer *p)
{
    while (p->ctl_count) {
        free(p->ctl[p->ctl_head]);
        p->ctl[p->ctl_head] = NULL;
        p->ctl_head = (p->ctl_head + 1) % WS_CTL_MAX;
        p->ctl_count--;
    }
}

static void peer_close(struct ws_peer *p, int code, const char *reason)
{
    if (p->close_req)
        return;
    p->close_req = true;
    p->close_code = code;
    snprintf(p->close_reason, sizeof p->close_reason, "%s", reason);
    metrics_close(&p->srv->metrics, reason);
    lws_callback_on_writable(p->wsi);
}

/* Queues {"op":5,"code","message","cause_op":null} (the rules' ERROR shape); dropped when the
 * small queue is full. */
static void peer_send_error(struct ws_peer *p, const char *code, const char *message)
{
    if (p->ctl_count == WS_CTL_MAX || p->close_req)
        return;
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:n}", "op", 5, "code", code, "message", message, "cause_op");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return;
    size_t len = strlen(s);
    unsigned char *buf = malloc(LWS_PRE + len);
    if (buf) {
        memcpy(buf + LWS_PRE, s, len);
        unsigned slot = (p->ctl_head + p->ctl_count) % WS_CTL_MAX;
        p->ctl[slot] = buf;
        p->ctl_len[slot] = len;
        p->ctl_count++;
        lws_callback_on_writable(p->wsi);
    }
    free(s);
}

/* ---------- WebSocket messages ---------- */

/* Appends len bytes to the reassembly buffer, growing it (bounded by the caller) as needed. */
static bool rx_append(struct ws_peer *p, const char *in, size_t len, size_t max)
{
    if (len > SIZE_MAX - p->rx_len ||
        grow_array(&p->rx, &p->rx_cap, p->rx_len + len, 1, WS_RX_INITIAL, max) != 0)
        return false;
    memcpy(p->rx + p->rx_len, in, len);
    p->rx_len += len;
    return true;
}

static void on_receive(struct ws_server *s, struct ws_peer *p, struct lws *wsi, const char *in,
                       size_t len)
{
    size_t max = s->rules_cfg.max_frame_bytes;
    bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
    if (p->close_req)
        return; /* closing: the rest is discarded */
    if (first) {
        p->rx_len = 0;
        p->rx_drop = false;
        p->rx_binary = lws_frame_is_binary(wsi);
    }
    if (first && final && !p->rx_binary && len <= max) {
        /* the common case, a whole message in one piece: no copy */
        if (p->rp) {
            metrics_frame_in(&s->metrics, len);
            relay_peer_handle(p->rp, in, len, now_ms());
        }
        return;
    }
    if (!p->rx_drop && !p->rx_binary) {
        if (len > max - p->rx_len) {
            p->rx_drop = true; /* the rest of this message is skipped as it arrives */
            if (p->rp)
                relay_peer_too_large(p->rp, now_ms());
        } else if (!rx_append(p, in, len, max)) {
            p->rx_drop = true;
            peer_close(p, RELAY_CLOSE_INTERNAL, "internal");
        }
    }
    if (!final)
        return;
    size_t whole = p->rx_len;
    bool dropped = p->rx_drop, binary = p->rx_binary;
    p->rx_len = 0;
    p->rx_drop = false;
    if (binary) {
        metrics_drop(&s->metrics, "binary_frame");
        peer_send_error(p, "binary_not_supported", "frames are JSON text; binary dropped");
        if (++p->binary_count >= WS_MAX_BINARY)
            peer_close(p, RELAY_CLOSE_BAD_INPUT, "bad_input");
    } else if (!dropped && p->rp) {
        metrics_frame_in(&s->metrics, whole);
        relay_peer_handle(p->rp, p->rx, whole, now_ms());
    }
    if (p->rx_cap > WS_RX_KEEP) { /* a big message was reassembled: give the memory back */
        free(p->rx);
        p->rx = NULL;
        p->rx_cap = 0;
    }
}

static void on_flush(lws_sorted_usec_list_t *sul)
{
    struct ws_server *s = lws_container_of(sul, struct ws_server, flush_sul);
    s->flush_scheduled = false;
    s->last_flush_ns = clock_mono_ns();
    relay_hub_flush(s->hub, now_ms());
}

/* Rooms ask for loads and saves from inside hub calls; the results go back here.  Received
 * transforms within their rate cap go out in a flush that runs once the event loop has
 * handled what is ready now (a timer due at once: it fires after the current pass). */
static void after_event(struct ws_server *s)
{
    if (s->np)
        net_persist_poll(s->np, s->hub, now_ms());
    if (s->fleet)
        fleet_poll(s->fleet, s->hub, now_ms());
    if (!s->flush_scheduled && relay_hub_flush_wanted(s->hub)) {
        /* busy relay: batch more per frame, up to --flush-spacing-ms (loadgauge.h) */
        lws_usec_t delay = 0;
        int64_t next =
            s->last_flush_ns + loadgauge_spacing_us(s->load.busy, s->cfg.flush_spacing_ms) * 1000;
        int64_t now = clock_mono_ns();
        if (next > now)
            delay = (lws_usec_t)((next - now) / 1000);
        s->flush_scheduled = true;
        lws_sul_schedule(s->ctx, 0, &s->flush_sul, on_flush, delay);
    }
}

static void on_established(struct ws_server *s, struct ws_peer *p, struct lws *wsi)
{
    p->srv = s;
    p->wsi = wsi;
    p->ws_open = true;
    lws_dll2_add_tail(&p->node, &s->peers);
    s->metrics.connections_total++;
    enum relay_join_result jr = relay_hub_join(s->hub, p->room_id, p->ident.user_id,
                                               p->ident.username, p, now_ms(), &p->rp);
    switch (jr) {
    case RELAY_JOIN_OK:
    case RELAY_JOIN_RESUMED:
        log_info("relay: %s (%s) %s room %s", p->ident.user_id, p->ident.username,
                 jr == RELAY_JOIN_OK ? "joined" : "resumed", p->room_id);
        break;
    case RELAY_JOIN_ROOM_FULL:
        log_info("relay: %s refused: room %s is full", p->ident.user_id, p->room_id);
        metrics_reject(&s->metrics, "room_full");
        break;
    case RELAY_JOIN_BAD_ROOM:
        metrics_reject(&s->metrics, "bad_room");
        break;
    case RELAY_JOIN_NOMEM:
        p->rp = NULL;
        peer_close(p, RELAY_CLOSE_INTERNAL, "internal");
        break;
    }
}

/* Whether libwebsockets itself has failed the connection (a protocol error in a frame: it
 * queues or sends Close 1002/1007 on its own, RFC 6455 §7.1.7) or the relay failed it for a
 * malformed Close.  Then nothing else may be written, and the TCP connection is closed at
 * once instead of lws's 5 s wait for the peer's Close (ws_server's tick asks for the
 * writeable callback that closes it). */
static bool lws_failed_connection(const struct ws_peer *p)
{
    return p->ws_open && !p->we_close && lws_get_close_length(p->wsi) > 0;
}

/* One write per writeable callback: a transport ERROR first, else the rules' next frame or
 * close. */
static int on_writeable(struct ws_server *s, struct ws_peer *p, struct lws *wsi)
{
    if (lws_failed_connection(p))
        return -1; /* lws sent Close: nothing more may be written (RFC 6455 §5.5.1) */
    if (p->ctl_count) {
        unsigned h = p->ctl_head;
        int n = lws_write(wsi, p->ctl[h] + LWS_PRE, p->ctl_len[h], LWS_WRITE_TEXT);
        metrics_frame_out(&s->metrics, p->ctl_len[h]);
        free(p->ctl[h]);
        p->ctl[h] = NULL;
        p->ctl_head = (h + 1) % WS_CTL_MAX;
        p->ctl_count--;
        if (n < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (p->close_req) {
        p->we_close = true;
        lws_close_reason(wsi, (enum lws_close_status)p->close_code,
                         (unsigned char *)p->close_reason, strlen(p->close_reason));
        return -1;
    }
    if (!p->rp)
        return 0;
    struct relay_frame f;
    switch (relay_peer_next(p->rp, &f)) {
    case RELAY_OUT_NONE:
        return 0;
    case RELAY_OUT_CLOSE: { /* counted when requested (hook_peer_closing) */
        const char *why = f.close_reason ? f.close_reason : "";
        p->we_close = true;
        lws_close_reason(wsi, (enum lws_close_status)f.close_code, (unsigned char *)why,
                         strlen(why));
        return -1;
    }
    case RELAY_OUT_FRAME:
        break;
    }
    int n = lws_write(wsi, f.bytes, f.len, LWS_WRITE_TEXT);
    metrics_frame_out(&s->metrics, f.len);
    if (f.origin_ms > 0) {
        int64_t ms = now_ms() - f.origin_ms;
        struct relay_room *room = relay_peer_room(p->rp);
        metrics_fanout_observe(&s->metrics, ms * 1000000);
        if (room) {
            double sec = (double)(ms < 0 ? 0 : ms) / 1e3;
            relay_room_fanout_add(room, metrics_fanout_bucket(sec), sec);
        }
    }
    relay_peer_pop(p->rp);
    if (n < 0)
        return -1;
    if (relay_peer_next(p->rp, &f) != RELAY_OUT_NONE)
        lws_callback_on_writable(wsi);
    return 0;
}

static void on_closed(struct ws_server *s, struct ws_peer *p)
{
    if (!p->ws_open)
        return;
    p->ws_open = false;
    lws_dll2_remove(&p->node);
    if (p->rp) {
        enum relay_leave_how how =
            p->peer_sent_close || (p->close_req && p->close_code == RELAY_CLOSE_BAD_INPUT)
                ? RELAY_LEAVE_CLEAN
                : RELAY_LEAVE_DROPPED;
        relay_peer_leave(p->rp, how, now_ms());
        p->rp = NULL;
        log_info("relay: %s left room %s (%s)", p->ident.user_id, p->room_id,
                 how == RELAY_LEAVE_CLEAN ? "clean close" : "dropped");
    }
    peer_ctl_clear(p);
    free(p->rx);
    p->rx = NULL;
    p->rx_cap = 0;
}

/* ---------- the protocol callback ---------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct ws_peer *p = user;
    struct lws_context *ctx = lws_get_context(wsi);
    struct ws_server *s = ctx ? lws_context_user(ctx) : NULL;
    int rc = 0;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        p->srv = s;
        p->wsi = wsi;
        return net_http_route(wsi, &p->http, in ? (const char *)in : "", s->stopping, &s->metrics,
                              s->hub, s->fleet, false)
                   ? -1
                   : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return net_http_writeable(wsi, &p->http);
    case LWS_CALLBACK_HTTP_BODY:
        return 0; /* no route takes a body */
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p)
            net_http_reply_clear(&p->http);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        p->srv = s;
        p->wsi = wsi;
        if (ws_admit(wsi, &s->cfg.keys, &s->metrics, s->stopping, p->room_id, &p->ident))
            return 1; /* refused: the answer was written */
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        on_established(s, p, wsi);
        break;
    case LWS_CALLBACK_RECEIVE:
        if (!p->ws_open)
            return -1;
        if (s->fleet && fleet_tick_due(s->fleet, now_ms())) /* e.g. after SIGSTOP: no lease, */
            fleet_tick(s->fleet, s->hub, now_ms());         /* no serving */
        on_receive(s, p, wsi, in, len);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!p->ws_open)
            return -1;
        rc = on_writeable(s, p, wsi);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (p && len == 1) {
            /* RFC 6455 §5.5.1: a Close body is empty or starts with a 2-byte code; lws
             * would echo this one.  Fail the connection instead (§7.1.7, 1002). */
            static const char why[] = "malformed close";
            metrics_close(&s->metrics, "bad_close");
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)why,
                             sizeof why - 1);
            return -1;
        }
        if (p)
            p->peer_sent_close = true;
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (p)
            on_closed(s, p);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        break; /* the persist worker woke us: after_event polls it */
    default:
        return 0;
    }
    after_event(s);
    return rc;
}

static const struct lws_protocols protocols[] = {
    {"roomstate", callback, sizeof(struct ws_peer), 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The metrics address (ws_config.metrics_port): plain HTTP only, /metrics with the
 * per-room and per-client series, /healthz; WebSocket upgrades are refused. */
static int metrics_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len)
{
    struct net_http_reply *r = user;
    struct lws_context *ctx = lws_get_context(wsi);
    struct ws_server *s = ctx ? lws_context_user(ctx) : NULL;
    (void)len;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return net_http_route(wsi, r, in ? (const char *)in : "", s->stopping, &s->metrics, s->hub,
                              s->fleet, true)
                   ? -1
                   : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return net_http_writeable(wsi, r);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return -1; /* no rooms here */
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (r)
            net_http_reply_clear(r);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols metrics_protocols[] = {
    {"roomstate-metrics", metrics_callback, sizeof(struct net_http_reply), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* A second vhost on the context for the metrics address; false (logged) when it cannot. */
static bool metrics_vhost(struct ws_server *s, const struct lws_context_creation_info *base)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = s->cfg.metrics_port;
    info.iface = s->cfg.metrics_host;
    info.protocols = metrics_protocols;
    info.options =
        base->options & (LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_LIBEV);
    if (!strchr(s->cfg.metrics_host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 10;
    info.vhost_name = "roomstate-relay-metrics";
    if (!lws_create_vhost(s->ctx, &info)) {
        log_error("relay: cannot listen for metrics on %s:%d", s->cfg.metrics_host,
                  s->cfg.metrics_port);
        return false;
    }
    log_info("relay: detailed metrics on http://%s:%d/metrics", s->cfg.metrics_host,
             s->cfg.metrics_port);
    return true;
}

/* ---------- hooks from the rules (no calls back into the hub from here) ---------- */

static void hook_peer_ready(void *ctx, void *peer_ctx)
{
    struct ws_peer *p = peer_ctx;
    if (p && p->ws_open)
        lws_callback_on_writable(p->wsi);
}

/* Seconds a rules' close may wait for the socket to take the close frame (after the frames
 * queued before it); a slow consumer has nothing queued but may never read again. */
#define CLOSE_WAIT_SLOW_S 2
#define CLOSE_WAIT_S 15

static void hook_peer_closing(void *ctx, void *peer_ctx, int code, const char *reason)
{
    struct ws_server *s = ctx;
    struct ws_peer *p = peer_ctx;
    metrics_close(&s->metrics, reason ? reason : "");
    if (p && p->ws_open)
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND,
                        code == RELAY_CLOSE_SLOW ? CLOSE_WAIT_SLOW_S : CLOSE_WAIT_S);
}

static bool hook_room_created(void *ctx, struct relay_room *room)
{
    struct ws_server *s = ctx;
    if (!s->np)
        return false;
    if (s->fleet)
        fleet_room_created(s->fleet, room, now_ms());
    else
        net_persist_load(s->np, room);
    return true;
}

static void hook_room_freed(void *ctx, struct relay_room *room)
{
    struct ws_server *s = ctx;
    if (s->fleet)
        fleet_room_freed(s->fleet, room);
}

static void hook_room_save(void *ctx, struct relay_room *room, json_t *doc_steal,
                           enum relay_save_reason why, const char *acting_user_id)
{
    struct ws_server *s = ctx;
    if (s->fleet)
        fleet_room_saved(s->fleet, room);
    if (s->np)
        net_persist_save(s->np, room, doc_steal, why, acting_user_id);
    else
        json_decref(doc_steal);
}

static void wake(void *ud)
{
    struct ws_server *s = ud;
    if (s->ctx)
        lws_cancel_service(s->ctx);
}

/* ---------- tick, run, shutdown ---------- */

static void begin_shutdown(struct ws_server *s)
{
    log_info("relay: shutting down: closing %u connections", (unsigned)s->peers.count);
    s->stopping = true;
    s->drain_deadline_ns = clock_mono_ns() + s->cfg.drain_timeout_ms * 1000000;
    if (s->fleet) /* rooms hand over first (fleet.h), then their peers are closed: 1012 */
        fleet_drain(s->fleet, s->hub, now_ms());
    else
        relay_hub_shutdown(s->hub);
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&s->peers))
    {
        struct ws_peer *p = lws_container_of(d, struct ws_peer, node);
        if (!p->rp || !relay_peer_room(p->rp)) /* not in a room: the rules will not close it */
            peer_close(p, RELAY_CLOSE_GOING_AWAY, "shutdown");
        else
            lws_callback_on_writable(p->wsi);
    }
    lws_end_foreach_dll_safe(d, d1);
}

/* Starts the shutdown when asked; ends the loop once every peer is gone and no save is in
 * flight, or at the drain bound.  From the tick (both loops) and after each poll() pass. */
static void check_stop(struct ws_server *s)
{
    if (s->done || !s->stop)
        return;
    if (!s->stopping && (*s->stop || evlib_signal))
        begin_shutdown(s);
    if (!s->stopping)
        return;
    if ((s->peers.count || (s->np && net_persist_pending(s->np)) ||
         (s->fleet && !fleet_idle(s->fleet))) &&
        clock_mono_ns() < s->drain_deadline_ns)
        return;
    s->done = true;
    if (s->evlib)
        lws_context_destroy(s->ctx); /* breaks libev's loop; ws_server_free finishes it */
}

static void on_evlib_signal(void *event_lib_handle, int signum)
{
    (void)event_lib_handle;
    (void)signum;
    evlib_signal = 1;
}

/* Connections lws has failed get a writeable callback, which closes them (see
 * lws_failed_connection). */
static void close_failed(struct ws_server *s)
{
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->peers))
    {
        struct ws_peer *p = lws_container_of(d, struct ws_peer, node);
        if (lws_failed_connection(p))
            lws_callback_on_writable(p->wsi);
    }
    lws_end_foreach_dll(d);
}

static void on_tick(lws_sorted_usec_list_t *sul);

/* The next tick on a fixed grid of tick_us, so that the relay ticks at tick_hz (what WELCOME
 * announces) however long a tick and the timer's wake-up take: a delay after each tick would
 * make the tick slower than tick_hz, and a sender at tick_hz would see two of its REP_OBJECTs
 * in one tick window (one superseded) every 1 / (tick_hz - real rate) seconds.  A relay more
 * than a tick behind starts a new grid instead of running a burst of ticks. */
static void schedule_tick(struct ws_server *s)
{
    int64_t wait = clock_grid_next(&s->tick_due_us, s->tick_us, clock_mono_ns() / 1000);
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, on_tick, wait);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct ws_server *s = lws_container_of(sul, struct ws_server, tick_sul);
    loadgauge_sample(&s->load, clock_mono_ns(), loadgauge_thread_cpu_ns());
    close_failed(s);
    relay_hub_tick(s->hub, now_ms());
    if (s->fleet)
        fleet_tick(s->fleet, s->hub, now_ms());
    s->metrics.ticks_total++;
    after_event(s);
    schedule_tick(s);
    check_stop(s);
}

struct ws_server *ws_server_new(const struct ws_config *cfg)
{
    struct ws_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->rules_cfg = *cfg->rules;
    s->rules_cfg.frame_headroom = LWS_PRE;
    s->rules_cfg.load_timeout_refuses = cfg->fleet && cfg->persist;
    if (s->cfg.drain_timeout_ms <= 0)
        s->cfg.drain_timeout_ms = 10000;
    if (!s->rules_cfg.max_frame_bytes)
        s->rules_cfg.max_frame_bytes = 65536;
    if (!s->rules_cfg.tick_hz)
        s->rules_cfg.tick_hz = 20;
    s->tick_us = (lws_usec_t)(1000000 / s->rules_cfg.tick_hz);
    metrics_init(&s->metrics);
    lws_set_log_level(log_get_level() <= LOG_DEBUG ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : LLL_ERR,
                      NULL);

    struct relay_hooks hooks = {
        .peer_ready = hook_peer_ready,
        .peer_closing = hook_peer_closing,
        .room_created = cfg->persist ? hook_room_created : NULL,
        .room_save = cfg->persist ? hook_room_save : NULL,
        .room_freed = cfg->fleet && cfg->persist ? hook_room_freed : NULL,
    };
    s->hub = relay_hub_new(&s->rules_cfg, &hooks, s);
    if (!s->hub) {
        log_error("relay: cannot create the room registry");
        goto fail;
    }
    if (cfg->persist) {
        s->np = net_persist_new(cfg->persist, wake, s);
        if (!s->np)
            goto fail;
        if (cfg->fleet && !(s->fleet = fleet_new(cfg->fleet, s->np, wake, s)))
            goto fail;
        if (s->fleet)
            net_persist_set_other(s->np, fleet_on_state_result, s->fleet);
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = cfg->host;
    info.protocols = protocols;
    info.user = s;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    if (!strchr(cfg->host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    /* Every header (the request target's arguments too) is cut by lws at its token limit
     * instead of overflowing the header buffer, which would drop the connection without an
     * answer; ws_admit answers 431 for a cut credential.  The buffer holds a few of them. */
    static struct lws_token_limits limits;
    for (size_t i = 0; i < sizeof limits.token_limit / sizeof limits.token_limit[0]; i++)
        limits.token_limit[i] = WS_TOKEN_HDR_LIMIT;
    info.token_limits = &limits;
    info.max_http_header_data = 3 * WS_TOKEN_HDR_LIMIT;
    info.retry_and_idle_policy = &idle_policy;
    info.timeout_secs = 10;
    info.vhost_name = "roomstate-relay";
    if (!cfg->poll_loop) { /* epoll through lws's libev plugin; poll() costs O(sockets) */
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.signal_cb = on_evlib_signal;
        s->evlib = true;
    }
    s->ctx = lws_create_context(&info);
    if (!s->ctx && s->evlib) { /* e.g. libwebsockets-evlib-ev not installed */
        log_warn("relay: the libev event loop is unavailable; using poll()");
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        info.signal_cb = NULL;
        s->evlib = false;
        s->ctx = lws_create_context(&info);
    }
    if (!s->ctx) {
        log_error("relay: cannot listen on %s:%d", cfg->host, cfg->port);
        goto fail;
    }
    if (cfg->metrics_port > 0 && !metrics_vhost(s, &info))
        goto fail;
    s->tick_due_us = clock_mono_ns() / 1000;
    schedule_tick(s);
    return s;
fail:
    ws_server_free(s);
    return NULL;
}

int ws_server_run(struct ws_server *s, volatile sig_atomic_t *stop)
{
    s->stop = stop;
    while (!s->done) {
        /* poll(): one pass per call; libev: runs until check_stop breaks the loop */
        if (lws_service(s->ctx, 0) < 0) {
            if (!s->stopping) {
                log_error("relay: event loop failed");
                return -1;
            }
            break;
        }
        check_stop(s);
    }
    if (s->peers.count)
        log_warn("relay: %u connections still open at exit", (unsigned)s->peers.count);
    return 0;
}

void ws_server_free(struct ws_server *s)
{
    if (!s)
        return;
    if (s->ctx) {
        lws_sul_cancel(&s->tick_sul);
        lws_sul_cancel(&s->flush_sul);
        lws_context_destroy(s->ctx); /* closes what is left: CLOSED -> relay_peer_leave */
    }
    fleet_free(s->fleet); /* first: rooms freed at exit are not "freed the normal way" */
    s->fleet = NULL;
    relay_hub_free(s->hub);
    net_persist_free(s->np);
    free(s);
}
