/* relay-load.c — load generator for roomstate-relay (and, with --raw, the Node anchor relay).
 *
 * One process, one libwebsockets event loop: R rooms x P players, each player sending a
 * REP_TRANSFORM at H Hz for warm-up + measure seconds, then a drain, then a clean close.
 * Every message carries its send time "t" (ms, CLOCK_MONOTONIC of this process), so the
 * latency of each delivery is measured with one clock.  Incoming frames (one message or a
 * JSON array of messages) are read by a small single-pass scanner that only picks the keys
 * it needs, so the generator stays cheap next to the relay it measures.
 *
 * Prints progress on stderr and one line `RESULT {json}` on stdout (fields as the anchors'
 * relay-load.js: deliveries_per_s, p50_ms, p99_ms, drops, loadgen_cpu_pct, relay_cpu_pct,
 * ...).  See bench/README.md.  Exit status: 0 ok, 1 run error, 2 usage. */
#include "bench/jscan.h"
#include "bench/loadrun.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/config.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const struct config_opt OPTS[] = {
    {"--url", NULL, CONFIG_STRING, "ws://127.0.0.1:8090", 0, 0, offsetof(struct loadrun_opts, url),
     "relay base URL (loopback only)"},
    {"--rooms", NULL, CONFIG_INT, "1", 1, 1000, offsetof(struct loadrun_opts, rooms), "rooms R"},
    {"--players", NULL, CONFIG_INT, "20", 1, 200, offsetof(struct loadrun_opts, players),
     "players per room P"},
    {"--hz", NULL, CONFIG_INT, "20", 1, 1000, offsetof(struct loadrun_opts, hz),
     "transforms per second per player"},
    {"--duration", NULL, CONFIG_INT, "10", 1, 3600, offsetof(struct loadrun_opts, duration),
     "measured seconds"},
    {"--warmup", NULL, CONFIG_INT, "2", 0, 600, offsetof(struct loadrun_opts, warmup),
     "seconds of sending before the measure"},
    {"--drain", NULL, CONFIG_INT, "2", 0, 600, offsetof(struct loadrun_opts, drain),
     "seconds to wait for deliveries after the last send"},
    {"--connect-timeout", NULL, CONFIG_INT, "30", 1, 600,
     offsetof(struct loadrun_opts, connect_timeout),
     "seconds for every client to connect (and be welcomed)"},
    {"--inflight", NULL, CONFIG_INT, "64", 1, 4096, offsetof(struct loadrun_opts, inflight),
     "handshakes in flight at once"},
    {"--key-file", "NAKAMA_SESSION_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct loadrun_opts, key_file),
     "file holding the Nakama session key used to mint one token per client (or the key in "
     "env NAKAMA_SESSION_KEY; default: Nakama's dev key)"},
    {"--relay-pid", NULL, CONFIG_INT, "0", 0, 4194304, offsetof(struct loadrun_opts, relay_pid),
     "report this process's CPU% and peak RSS (VmHWM)"},
    {"--objects", NULL, CONFIG_BOOL, "false", 0, 0, offsetof(struct loadrun_opts, objects),
     "each player also spawns, holds and moves an object (REP_OBJECT at --hz)"},
    {"--raw", NULL, CONFIG_BOOL, "false", 0, 0, offsetof(struct loadrun_opts, raw),
     "anchor relay: no token, no WELCOME, messages forwarded unchanged"},
    {"--target", NULL, CONFIG_STRING, "roomstate-relay", 0, 0,
     offsetof(struct loadrun_opts, target), "name written into the RESULT line"},
    {"--prefix", NULL, CONFIG_STRING, NULL, 0, 0, offsetof(struct loadrun_opts, prefix),
     "room id prefix (default load-<random>-)"},
    {"--evlib", NULL, CONFIG_STRING, "ev", 0, 0, offsetof(struct loadrun_opts, evlib),
     "event loop: ev (libev, epoll), uv (libuv, epoll) or poll (lws default, O(clients))"},
    {"--seed", NULL, CONFIG_INT, "0", 0, 2147483647, offsetof(struct loadrun_opts, seed),
     "random seed (0: from time and pid)"},
};

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* ---------------------------------------------------------------- sending */
static void build_transform(struct loadrun_client *c, double t_ms, size_t *len)
{
    char *b = (char *)c->tx + LWS_PRE;
    char cfield[32] = "";
    if (c->run->o.raw)
        snprintf(cfield, sizeof cfield, "\"c\":%d,", c->idx);
    c->px += 0.01;
    c->pz -= 0.01;
    int n = snprintf(b, LOADRUN_TX_MAX,
                     "{\"op\":30,%s\"seq\":%u,\"t\":%.3f,"
                     "\"head\":{\"p\":[%.3f,1.700,%.3f],\"r\":[0,0.7071,0,0.7071]},"
                     "\"left\":{\"p\":[%.3f,1.200,%.3f],\"r\":[0,0,0,1]},"
                     "\"right\":{\"p\":[%.3f,1.200,%.3f],\"r\":[0,0,0,1]}}",
                     cfield, c->seq, t_ms, c->px, c->pz, c->px - 0.3, c->pz, c->px + 0.3, c->pz);
    *len = n > 0 && n < LOADRUN_TX_MAX ? (size_t)n : 0;
}

/* The one send timer: every client whose due time has come is marked for a send (or, when
 * its previous one still waits for the socket, counted as merged), its due time moves one
 * period on, and the timer is set again for the next client in phase order. */
static void send_due(lws_sorted_usec_list_t *sul)
{
    struct loadrun *r = lws_container_of(sul, struct loadrun, send_sul);
    int64_t now = clock_mono_ns();
    if (r->phase != LOADRUN_P_RUN || now >= r->win_end_ns)
        return;
    struct loadrun_client *c = &r->cl[r->send_order[r->send_next]];
    while (c->due_ns <= now) {
        if (c->ready && c->state == LOADRUN_C_JOINED && c->wsi) {
            if (now > c->due_ns)
                hist_add(&r->lag, (double)(now - c->due_ns) / 1e6);
            if (c->want_send)
                r->timer_late++; /* previous send still waiting for the socket: merged */
            c->want_send = true;
            lws_callback_on_writable(c->wsi);
        }
        c->due_ns += r->period_ns;
        if (++r->send_next == r->n)
            r->send_next = 0;
        c = &r->cl[r->send_order[r->send_next]];
    }
    lws_sul_schedule(r->ctx, 0, &r->send_sul, send_due, (c->due_ns - now + 999) / 1000);
}

static int write_text(struct loadrun_client *c, int n)
{
    if (n <= 0 || n >= LOADRUN_TX_MAX)
        return -1;
    return lws_write(c->wsi, c->tx + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n ? -1 : 0;
}

/* --objects: ask for the snapshot; once it is done register a manifest, spawn an object, ask
 * to hold it (one message per call). */
static bool setup_writes(const struct loadrun_client *c)
{
    return c->setup == LOADRUN_S_SNAPSHOT ||
           (c->setup >= LOADRUN_S_MANIFEST && c->setup <= LOADRUN_S_REQUEST);
}

static int write_setup(struct loadrun_client *c)
{
    char *b = (char *)c->tx + LWS_PRE;
    int n = 0;
    if (c->setup == LOADRUN_S_SNAPSHOT)
        n = snprintf(b, LOADRUN_TX_MAX, "{\"op\":%d}", LOADRUN_OP_SNAPSHOT_REQUEST);
    else if (c->setup == LOADRUN_S_MANIFEST)
        n = snprintf(b, LOADRUN_TX_MAX, "{\"op\":25,\"manifest_id\":\"lm-%d\",\"properties\":{}}",
                     c->idx);
    else if (c->setup == LOADRUN_S_SPAWN)
        n = snprintf(b, LOADRUN_TX_MAX,
                     "{\"op\":20,\"object_id\":\"lo-%d\",\"manifest_id\":\"lm-%d\","
                     "\"persist_mode\":\"transient_held\",\"transform\":{\"position\":[%.3f,1.0,"
                     "%.3f],\"rotation\":[0,0,0,1]},\"properties\":{}}",
                     c->idx, c->idx, c->px, c->pz);
    else
        n = snprintf(b, LOADRUN_TX_MAX, "{\"op\":10,\"object_id\":\"lo-%d\"}", c->idx);
    c->setup++;
    if (setup_writes(c))
        lws_callback_on_writable(c->wsi);
    return write_text(c, n);
}

static int write_object(struct loadrun_client *c, int64_t now)
{
    struct loadrun *r = c->run;
    char *b = (char *)c->tx + LWS_PRE;
    c->want_obj = false;
    c->obj_seq++;
    int n =
        snprintf(b, LOADRUN_TX_MAX,
                 "{\"op\":31,\"object_id\":\"lo-%d\",\"seq\":%u,\"epoch\":%lld,\"t\":%.3f,"
                 "\"transform\":{\"position\":[%.3f,1.0,%.3f],\"rotation\":[0,0,0,1]}}",
                 c->idx, c->obj_seq, c->epoch, (double)(now - r->t0_ns) / 1e6, c->px + 0.2, c->pz);
    if (write_text(c, n))
        return -1;
    r->obj_sent++;
    r->sent_bytes += (uint64_t)n;
    /* the room's other clients that had their snapshot: the only ones the relay sends live
     * object messages to (docs/relay-protocol.md, "Late join") */
    if (r->room_synced[c->room] > 1)
        r->obj_expected += (uint64_t)(r->room_synced[c->room] - 1);
    if (now >= r->win_start_ns && now < r->win_end_ns) {
        r->obj_sent_win++;
        c->bytes_out_win += (uint64_t)n;
    }
    return 0;
}

static int on_writable(struct loadrun_client *c)
{
    struct loadrun *r = c->run;
    if (c->want_close) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"done", 4);
        return -1;
    }
    if (setup_writes(c))
        return write_setup(c);
    int64_t now = clock_mono_ns();
    if (!c->want_send)
        return c->want_obj ? write_object(c, now) : 0;
    c->want_send = false;
    size_t len;
    c->seq++;
    build_transform(c, (double)(now - r->t0_ns) / 1e6, &len);
    if (len == 0 || lws_write(c->wsi, c->tx + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    r->sent++;
    r->sent_bytes += len;
    r->expected += (uint64_t)(r->room_joined[c->room] - 1);
    if (now >= r->win_start_ns && now < r->win_end_ns) {
        r->sent_win++;
        c->bytes_out_win += len;
    }
    if (r->o.objects && c->ready) { /* the held object goes in the next write */
        c->want_obj = true;
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

/* ---------------------------------------------------------------- receiving */
static int sender_index(const struct loadrun *r, const struct loadrun_client *c,
                        const struct jscan_msg *m)
{
    if (r->o.raw)
        return m->has_c && m->c >= 0 && m->c < r->n ? (int)m->c : -1;
    if (!m->from || m->from_len != 36 || memcmp(m->from, r->uuid_prefix, 24) != 0)
        return -1;
    (void)c;
    uint64_t v = 0; /* the client index: 12 hex digits (loadrun_setup) */
    for (int i = 24; i < 36; i++) {
        char ch = m->from[i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                     : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                              : 16;
        if (d == 16)
            return -1;
        v = v << 4 | d;
    }
    return v < (uint64_t)r->n ? (int)v : -1;
}

static void mark_ready(struct loadrun_client *c)
{
    c->ready = true;
    c->run->joined++;
    c->run->inflight--;
}

static bool is_my_object(const struct loadrun_client *c, const struct jscan_msg *m)
{
    char id[32];
    int n = snprintf(id, sizeof id, "lo-%d", c->idx);
    return m->object_id && n > 0 && m->object_id_len == (size_t)n &&
           memcmp(m->object_id, id, (size_t)n) == 0;
}

static void on_message(struct loadrun_client *c, const struct jscan_msg *m, double now_ms)
{
    struct loadrun *r = c->run;
    if (!m->has_op && !r->o.raw) {
        r->bad_msgs++;
        return;
    }
    long long op =
        m->has_op ? m->op : LOADRUN_OP_REP_TRANSFORM; /* raw: our own messages come back */
    if (op == LOADRUN_OP_WELCOME && c->state == LOADRUN_C_OPEN) {
        c->state = LOADRUN_C_JOINED;
        r->room_joined[c->room]++;
        if (r->o.objects) { /* ready once it has the snapshot and holds its object */
            c->setup = LOADRUN_S_SNAPSHOT;
            lws_callback_on_writable(c->wsi);
        } else {
            mark_ready(c);
        }
        return;
    }
    if (op == LOADRUN_OP_SNAPSHOT_DONE && c->setup == LOADRUN_S_SYNCING) {
        c->synced = true;
        r->room_synced[c->room]++;
        c->setup = LOADRUN_S_MANIFEST;
        lws_callback_on_writable(c->wsi);
        return;
    }
    if ((op == LOADRUN_OP_OWNERSHIP_GRANTED || op == LOADRUN_OP_OWNERSHIP_DENIED) &&
        c->setup == LOADRUN_S_GRANT && is_my_object(c, m)) {
        if (op == LOADRUN_OP_OWNERSHIP_DENIED) {
            if (r->op_errors++ == 0)
                snprintf(r->first_op_error, sizeof r->first_op_error, "ownership denied");
            return;
        }
        c->epoch = m->has_epoch ? m->epoch : 0;
        c->setup = LOADRUN_S_HOLDING;
        mark_ready(c);
        return;
    }
    if (op == LOADRUN_OP_ERROR) {
        if (r->op_errors++ == 0)
            snprintf(r->first_op_error, sizeof r->first_op_error, "%.*s",
                     (int)(m->code_len < 100 ? m->code_len : 100), m->code ? m->code : "?");
        return;
    }
    if (op != LOADRUN_OP_REP_TRANSFORM && op != LOADRUN_OP_REP_OBJECT)
        return; /* presences, host changes, ... */
    if (!m->has_t || !m->has_seq) {
        r->bad_msgs++;
        return;
    }
    int s = sender_index(r, c, m);
    if (s < 0 || s / (int)r->o.players != c->room) {
        r->foreign++; /* from nobody we know, or from another room: a routing bug */
        return;
    }
    if (s == c->idx) {
        r->echoes++;
        return;
    }
    double ws = (double)(r->win_start_ns - r->t0_ns) / 1e6,
           we = (double)(r->win_end_ns - r->t0_ns) / 1e6;
    bool in_win = m->t >= ws && m->t < we;
    if (op == LOADRUN_OP_REP_OBJECT) {
        r->obj_delivered++;
        uint32_t *lo = &c->last_obj_seq[s % r->o.players];
        if (m->seq <= (long long)*lo) {
            r->obj_stale++;
        } else {
            r->obj_seq_gaps += (uint64_t)(m->seq - (long long)*lo - 1);
            *lo = (uint32_t)m->seq;
        }
        if (in_win) {
            r->obj_delivered_win++;
            hist_add(&r->lat_obj, now_ms - m->t);
        }
        return;
    }
    r->delivered++;
    uint32_t *last = &c->last_seq[s % r->o.players];
    if (m->seq <= (long long)*last) {
        r->stale++;
    } else {
        r->seq_gaps += (uint64_t)(m->seq - (long long)*last - 1);
        *last = (uint32_t)m->seq;
    }
    if (in_win) {
        r->delivered_win++;
        hist_add(&r->lat, now_ms - m->t);
    }
}

struct frame_ctx {
    struct loadrun_client *c;
    double now_ms;
};

static int frame_msg(void *arg, const struct jscan_msg *m)
{
    struct frame_ctx *fc = arg;
    on_message(fc->c, m, fc->now_ms);
    return 0;
}

static void on_frame(struct loadrun_client *c, const char *p, size_t len)
{
    struct loadrun *r = c->run;
    int64_t now = clock_mono_ns();
    struct frame_ctx fc = {c, (double)(now - r->t0_ns) / 1e6};
    r->rx_frames++;
    if (now >= r->win_start_ns && now < r->win_end_ns)
        c->bytes_in_win += len;
    if (jscan_frame(p, len, frame_msg, &fc) < 0)
        r->bad_msgs++;
}

static int on_receive(struct loadrun_client *c, const char *in, size_t len)
{
    struct lws *wsi = c->wsi;
    bool whole = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (whole && c->rx_len == 0) {
        on_frame(c, in, len);
        return 0;
    }
    if (c->rx_len + len > LOADRUN_RX_MAX_BYTES) {
        c->run->bad_msgs++;
        return -1;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 16384;
        while (cap < c->rx_len + len)
            cap *= 2;
        char *nb = realloc(c->rx, cap);
        if (!nb)
            return -1;
        c->rx = nb;
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (whole) {
        on_frame(c, c->rx, c->rx_len);
        c->rx_len = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- connections */
static void start_connects(struct loadrun *r);

static void client_gone(struct loadrun_client *c, const char *why)
{
    struct loadrun *r = c->run;
    if (c->state == LOADRUN_C_CONNECTING || c->state == LOADRUN_C_OPEN) {
        r->inflight--;
        r->connect_errors++;
        c->state = LOADRUN_C_FAILED;
        r->failed++;
        if (!r->first_close[0])
            snprintf(r->first_close, sizeof r->first_close, "connect: %s", why ? why : "?");
    } else if (c->state == LOADRUN_C_JOINED) {
        r->room_joined[c->room]--;
        if (c->synced)
            r->room_synced[c->room]--;
        c->synced = false;
        if (!c->ready) { /* closed while setting up its object */
            r->inflight--;
            r->connect_errors++;
            r->failed++;
        }
        if (r->phase < LOADRUN_P_CLOSING) {
            r->closed_early++;
            if (!r->first_close[0])
                snprintf(r->first_close, sizeof r->first_close, "closed: %s", why ? why : "?");
        }
        c->state = LOADRUN_C_CLOSED;
        r->closed++;
    }
    c->wsi = NULL;
}

static int cb_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct loadrun_client *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        c->state = LOADRUN_C_OPEN;
        if (c->run->o.raw) { /* the anchor relay sends no WELCOME: joined once open */
            c->state = LOADRUN_C_JOINED;
            c->run->room_joined[c->room]++;
            mark_ready(c);
        }
        start_connects(c->run);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (in && on_receive(c, in, len))
            return -1;
        if (c->ready && c->run->phase == LOADRUN_P_CONNECT)
            start_connects(c->run);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2 && !c->run->first_close[0] && c->run->phase < LOADRUN_P_CLOSING) {
            const unsigned char *u = in;
            snprintf(c->run->first_close, sizeof c->run->first_close, "peer close %d %.*s",
                     (u[0] << 8) | u[1], (int)(len - 2 < 100 ? len - 2 : 100),
                     (const char *)in + 2);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        client_gone(c, in ? (const char *)in : "connection error");
        start_connects(c->run);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        client_gone(c, "closed");
        break;
    default:
        break;
    }
    (void)user;
    return 0;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"relay-load", cb_client, 0, 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void start_connects(struct loadrun *r)
{
    static bool busy; /* lws may call back into us from lws_client_connect_via_info */
    if (busy)
        return;
    busy = true;
    while (r->phase == LOADRUN_P_CONNECT && r->inflight < r->o.inflight && r->next_connect < r->n) {
        struct loadrun_client *c = &r->cl[r->next_connect++];
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof ci);
        ci.context = r->ctx;
        ci.address = r->host;
        ci.port = r->port;
        ci.path = c->path;
        ci.host = r->host;
        ci.origin = r->host;
        ci.ietf_version_or_minus_one = -1;
        ci.local_protocol_name = PROTOCOLS[0].name;
        ci.opaque_user_data = c;
        c->state = LOADRUN_C_CONNECTING;
        r->inflight++;
        if (!lws_client_connect_via_info(&ci) && c->state == LOADRUN_C_CONNECTING)
            client_gone(c, "lws_client_connect_via_info failed");
    }
    busy = false;
}

/* ---------------------------------------------------------------- phases */
static void begin_close(struct loadrun *r)
{
    r->phase = LOADRUN_P_CLOSING;
    r->phase_end_ns = clock_mono_ns() + 2000000000LL;
    lws_sul_cancel(&r->send_sul);
    for (int i = 0; i < r->n; i++) {
        struct loadrun_client *c = &r->cl[i];
        if (c->wsi && (c->state == LOADRUN_C_OPEN || c->state == LOADRUN_C_JOINED)) {
            c->want_close = true;
            lws_callback_on_writable(c->wsi);
        }
    }
}

static void fail(struct loadrun *r, const char *msg)
{
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "%s", msg);
    if (r->phase < LOADRUN_P_CLOSING)
        begin_close(r);
}

static void start_sending(struct loadrun *r, int64_t now)
{
    r->phase = LOADRUN_P_RUN;
    r->send_start_ns = now;
    r->win_start_ns = now + r->o.warmup * 1000000000LL;
    r->win_end_ns = r->win_start_ns + r->o.duration * 1000000000LL;
    loadrun_plan_sends(r, now); /* every client on its own period, at a random phase */
    int64_t first = r->cl[r->send_order[0]].due_ns;
    lws_sul_schedule(r->ctx, 0, &r->send_sul, send_due, (first - now + 999) / 1000);
}

/* --objects, at the end of the drain: the (recipient, sender) pairs of synced clients where
 * the recipient has not got the sender's last REP_OBJECT.  The relay may coalesce (latest
 * wins) but must deliver the latest value of every stream: this must be 0. */
static void count_last_missing(struct loadrun *r)
{
    for (int i = 0; r->o.objects && i < r->n; i++) {
        const struct loadrun_client *c = &r->cl[i];
        int first = c->room * (int)r->o.players;
        for (int k = 0; c->synced && c->state == LOADRUN_C_JOINED && k < (int)r->o.players; k++) {
            const struct loadrun_client *s = &r->cl[first + k];
            if (s != c && s->synced && s->state == LOADRUN_C_JOINED && s->obj_seq > 0 &&
                c->last_obj_seq[k] != s->obj_seq)
                r->obj_last_missing++;
        }
    }
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct loadrun *r = lws_container_of(sul, struct loadrun, tick);
    int64_t now = clock_mono_ns();
    char msg[200];
    if (g_interrupted && r->phase < LOADRUN_P_CLOSING)
        fail(r, "interrupted");
    if (now > r->hard_deadline_ns) {
        fail(r, "hard deadline reached");
        r->phase = LOADRUN_P_DONE;
    }
    switch (r->phase) {
    case LOADRUN_P_CONNECT:
        if (r->joined == r->n) {
            r->connect_s = (double)(now - r->t0_ns) / 1e9;
            fprintf(stderr, "# relay-load: %d clients joined in %.2f s\n", r->n, r->connect_s);
            r->phase = LOADRUN_P_SETTLE;
            r->phase_end_ns = now + 300000000LL;
        } else if ((r->failed > 0 && r->inflight == 0 && r->next_connect == r->n) ||
                   now > r->connect_deadline_ns) {
            snprintf(msg, sizeof msg, "only %d/%d clients joined (%s)", r->joined, r->n,
                     r->first_close[0] ? r->first_close : "timeout");
            fail(r, msg);
        }
        break;
    case LOADRUN_P_SETTLE:
        if (now >= r->phase_end_ns)
            start_sending(r, now);
        break;
    case LOADRUN_P_RUN:
        if (!r->have_s0 && now >= r->win_start_ns) {
            loadrun_snap(r, &r->s0);
            r->have_s0 = true;
        }
        if (now >= r->win_end_ns) {
            loadrun_snap(r, &r->s1);
            r->have_s1 = r->have_s0;
            if (r->o.relay_pid > 0) {
                r->relay_rss_mib = procstat_status_mib(r->o.relay_pid, "VmRSS:");
                r->relay_hwm_mib = procstat_status_mib(r->o.relay_pid, "VmHWM:");
            }
            r->phase = LOADRUN_P_DRAIN;
            r->phase_end_ns = now + r->o.drain * 1000000000LL;
        }
        break;
    case LOADRUN_P_DRAIN:
        if (now >= r->phase_end_ns) {
            count_last_missing(r);
            begin_close(r);
        }
        break;
    case LOADRUN_P_CLOSING: {
        int live = 0;
        for (int i = 0; i < r->n; i++)
            live += r->cl[i].wsi && r->cl[i].state != LOADRUN_C_CONNECTING;
        if (live == 0 || now >= r->phase_end_ns)
            r->phase = LOADRUN_P_DONE;
        break;
    }
    case LOADRUN_P_DONE:
        break;
    }
    if (r->phase != LOADRUN_P_DONE)
        lws_sul_schedule(r->ctx, 0, &r->tick, tick, 20000);
    else if (r->evlib)
        lws_context_destroy(r->ctx); /* breaks the event library's loop; main finishes it */
    else
        lws_cancel_service(r->ctx); /* nothing else may wake the poll() loop */
}

/* ---------------------------------------------------------------- set-up */
/* ---------------------------------------------------------------- main */
int main(int argc, char **argv)
{
    static struct loadrun run; /* large; lives for the whole program */
    struct loadrun *r = &run;
    struct lws_context_creation_info info;
    struct rlimit rl;
    int rc = 1;
    switch (config_parse(OPTS, sizeof OPTS / sizeof OPTS[0], &r->o, argc, argv,
                         "usage: relay-load [options]   (bench/README.md)", NULL, 0, NULL)) {
    case CONFIG_OK:
        break;
    case CONFIG_HELP:
        return 0;
    default:
        return 2;
    }
    static char key_buf[4097]; /* a secret is never a command-line value */
    const char *key_err = NULL;
    char *key = config_read_secret(r->o.key_file, getenv("NAKAMA_SESSION_KEY"), &key_err);
    if (!key && key_err) {
        fprintf(stderr, "relay-load: session key: %s\n", key_err);
        return 2;
    }
    snprintf(key_buf, sizeof key_buf, "%s", key ? key : AUTH_DEV_SESSION_KEY);
    free(key);
    r->o.key = key_buf;
    r->n = (int)(r->o.rooms * r->o.players);
    if (r->n > LOADRUN_MAX_CLIENTS) {
        fprintf(stderr, "relay-load: refusing more than %d clients\n", LOADRUN_MAX_CLIENTS);
        return 2;
    }
    if (loadrun_parse_url(r))
        return 2;
    if (r->o.objects && r->o.raw) {
        fprintf(stderr, "relay-load: --objects needs our relay's ownership protocol, not --raw\n");
        return 2;
    }
    if (r->o.seed == 0)
        r->o.seed = (long long)((clock_wall_ms() ^ ((int64_t)getpid() << 16)) & 0x7fffffff);
    /* lws sizes its fd tables by this limit; the soft limit is set to what the clients need
     * (not to the hard limit: those tables would be needlessly large).  No fd_limit_per_thread
     * below: under the limit it makes lws find each event's connection by a linear scan. */
    rlim_t need = (rlim_t)r->n + 256 > 1024 ? (rlim_t)r->n + 256 : 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != need &&
        (rl.rlim_max == RLIM_INFINITY || need <= rl.rlim_max)) {
        rl.rlim_cur = need;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)r->n + 64) {
        fprintf(stderr, "relay-load: %d clients need %d file descriptors; the limit is %llu\n",
                r->n, r->n + 64, (unsigned long long)rl.rlim_cur);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    r->period_ns = 1000000000LL / r->o.hz;
    if (loadrun_setup(r))
        goto out;
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.max_http_header_pool = (unsigned short)(r->o.inflight + 16);
    info.timeout_secs = (unsigned)r->o.connect_timeout;
    info.connect_timeout_secs = (unsigned)r->o.connect_timeout;
    info.user = r;
    r->evlib = strcmp(r->o.evlib, "poll") != 0;
    if (!strcmp(r->o.evlib, "ev")) {
        info.options |= LWS_SERVER_OPTION_LIBEV;
    } else if (!strcmp(r->o.evlib, "uv")) {
        info.options |= LWS_SERVER_OPTION_LIBUV;
    } else if (strcmp(r->o.evlib, "poll")) {
        fprintf(stderr, "relay-load: --evlib must be ev, uv or poll\n");
        goto out;
    }
    r->ctx = lws_create_context(&info);
    if (!r->ctx) {
        fprintf(stderr, "relay-load: cannot create the libwebsockets context\n");
        goto out;
    }
    fprintf(stderr, "# relay-load: %s %lld rooms x %lld players at %lld Hz, %lld+%lld+%lld s%s\n",
            r->o.url, r->o.rooms, r->o.players, r->o.hz, r->o.warmup, r->o.duration, r->o.drain,
            r->o.raw ? " (raw)" : "");
    r->t0_ns = clock_mono_ns();
    r->win_start_ns = r->win_end_ns = INT64_MAX;
    r->connect_deadline_ns = r->t0_ns + r->o.connect_timeout * 1000000000LL;
    r->hard_deadline_ns =
        r->connect_deadline_ns + (r->o.warmup + r->o.duration + r->o.drain + 10) * 1000000000LL;
    start_connects(r);
    lws_sul_schedule(r->ctx, 0, &r->tick, tick, 20000);
    while (r->phase != LOADRUN_P_DONE) {
        if (lws_service(r->ctx, 0) < 0) {
            fail(r, "event loop failed");
            break;
        }
    }
    r->phase = LOADRUN_P_DONE;
    loadrun_print_result(r);
    lws_context_destroy(r->ctx);
    rc = r->error[0] ? 1 : 0;
out:
    loadrun_free(r);
    return rc;
}
