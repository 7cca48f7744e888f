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
#include "bench/hist.h"
#include "bench/jscan.h"
#include "bench/procstat.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/config.h"

#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define OP_WELCOME 1
#define OP_ERROR 5
#define OP_REP_TRANSFORM 30
#define OP_REP_OBJECT 31
#define TX_MAX 512
#define RX_MAX_BYTES (1024 * 1024) /* one reassembled frame at most */
#define MAX_CLIENTS 20000

struct opts {
    const char *url, *key, *target, *prefix, *evlib;
    long long rooms, players, hz, duration, warmup, drain, relay_pid, connect_timeout;
    long long inflight, seed;
    bool raw;
};

static const struct config_opt OPTS[] = {
    {"--url", NULL, CONFIG_STRING, "ws://127.0.0.1:8090", 0, 0, offsetof(struct opts, url),
     "relay base URL (loopback only)"},
    {"--rooms", NULL, CONFIG_INT, "1", 1, 1000, offsetof(struct opts, rooms), "rooms R"},
    {"--players", NULL, CONFIG_INT, "20", 1, 200, offsetof(struct opts, players),
     "players per room P"},
    {"--hz", NULL, CONFIG_INT, "20", 1, 1000, offsetof(struct opts, hz),
     "transforms per second per player"},
    {"--duration", NULL, CONFIG_INT, "10", 1, 3600, offsetof(struct opts, duration),
     "measured seconds"},
    {"--warmup", NULL, CONFIG_INT, "2", 0, 600, offsetof(struct opts, warmup),
     "seconds of sending before the measure"},
    {"--drain", NULL, CONFIG_INT, "2", 0, 600, offsetof(struct opts, drain),
     "seconds to wait for deliveries after the last send"},
    {"--connect-timeout", NULL, CONFIG_INT, "30", 1, 600, offsetof(struct opts, connect_timeout),
     "seconds for every client to connect (and be welcomed)"},
    {"--inflight", NULL, CONFIG_INT, "64", 1, 4096, offsetof(struct opts, inflight),
     "handshakes in flight at once"},
    {"--key", "NAKAMA_SESSION_KEY", CONFIG_STRING, AUTH_DEV_SESSION_KEY, 0, 0,
     offsetof(struct opts, key), "Nakama session key used to mint one token per client"},
    {"--relay-pid", NULL, CONFIG_INT, "0", 0, 4194304, offsetof(struct opts, relay_pid),
     "report this process's CPU% and peak RSS (VmHWM)"},
    {"--raw", NULL, CONFIG_BOOL, "false", 0, 0, offsetof(struct opts, raw),
     "anchor relay: no token, no WELCOME, messages forwarded unchanged"},
    {"--target", NULL, CONFIG_STRING, "roomstate-relay", 0, 0, offsetof(struct opts, target),
     "name written into the RESULT line"},
    {"--prefix", NULL, CONFIG_STRING, NULL, 0, 0, offsetof(struct opts, prefix),
     "room id prefix (default load-<random>-)"},
    {"--evlib", NULL, CONFIG_STRING, "ev", 0, 0, offsetof(struct opts, evlib),
     "event loop: ev (libev, epoll), uv (libuv, epoll) or poll (lws default, O(clients))"},
    {"--seed", NULL, CONFIG_INT, "0", 0, 2147483647, offsetof(struct opts, seed),
     "random seed (0: from time and pid)"},
};

enum client_state { C_IDLE = 0, C_CONNECTING, C_OPEN, C_JOINED, C_CLOSED, C_FAILED };
enum phase { P_CONNECT = 0, P_SETTLE, P_RUN, P_DRAIN, P_CLOSING, P_DONE };

struct run;

struct client {
    struct run *run;
    struct lws *wsi;
    lws_sorted_usec_list_t sul;
    int idx, room;
    enum client_state state;
    bool want_send, want_close;
    uint32_t seq;
    int64_t due_ns;
    double px, pz;
    uint32_t *last_seq; /* per peer of the room: last seq received from it */
    char *path;
    char *rx;
    size_t rx_len, rx_cap;
    uint64_t bytes_in_win, bytes_out_win;
    unsigned char tx[LWS_PRE + TX_MAX];
};

struct snap { /* what is sampled at the start and the end of the measure window */
    int64_t mono_ns;
    double self_cpu_s, relay_cpu_s;
    bool relay_ok;
    struct procstat_cores cores;
};

struct run {
    struct opts o;
    char host[256], base[256], uuid_prefix[25];
    int port, n;
    bool evlib; /* libev/libuv: lws_service() runs the loop until the context is destroyed */
    struct lws_context *ctx;
    struct client *cl;
    int *room_joined;
    enum phase phase;
    int next_connect, inflight, joined, closed, failed;
    int64_t t0_ns, connect_deadline_ns, phase_end_ns, send_start_ns, win_start_ns, win_end_ns;
    int64_t period_ns, hard_deadline_ns;
    lws_sorted_usec_list_t tick;
    struct snap s0, s1;
    bool have_s0, have_s1;
    double connect_s;
    char error[256], first_close[160];
    /* counters */
    uint64_t sent, sent_win, sent_bytes, expected, delivered, delivered_win, seq_gaps, stale;
    uint64_t echoes, foreign, bad_msgs, op_errors, closed_early, connect_errors, timer_late;
    uint64_t rx_frames;
    char first_op_error[128];
    struct hist lat, lag;
    double relay_rss_mib, relay_hwm_mib;
};

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig) { (void)sig; g_interrupted = 1; }


/* ---------------------------------------------------------------- sending */
static void build_transform(struct client *c, double t_ms, size_t *len)
{
    char *b = (char *)c->tx + LWS_PRE;
    char cfield[32] = "";
    if (c->run->o.raw)
        snprintf(cfield, sizeof cfield, "\"c\":%d,", c->idx);
    c->px += 0.01;
    c->pz -= 0.01;
    int n = snprintf(b, TX_MAX,
                     "{\"op\":30,%s\"seq\":%u,\"t\":%.3f,"
                     "\"head\":{\"p\":[%.3f,1.700,%.3f],\"r\":[0,0.7071,0,0.7071]},"
                     "\"left\":{\"p\":[%.3f,1.200,%.3f],\"r\":[0,0,0,1]},"
                     "\"right\":{\"p\":[%.3f,1.200,%.3f],\"r\":[0,0,0,1]}}",
                     cfield, c->seq, t_ms, c->px, c->pz, c->px - 0.3, c->pz, c->px + 0.3, c->pz);
    *len = n > 0 && n < TX_MAX ? (size_t)n : 0;
}

static void send_timer(lws_sorted_usec_list_t *sul)
{
    struct client *c = lws_container_of(sul, struct client, sul);
    struct run *r = c->run;
    int64_t now = clock_mono_ns();
    if (r->phase != P_RUN || c->state != C_JOINED || now >= r->win_end_ns)
        return;
    if (now - c->due_ns > 0)
        hist_add(&r->lag, (double)(now - c->due_ns) / 1e6);
    if (c->want_send)
        r->timer_late++; /* previous send still waiting for the socket: merged */
    c->want_send = true;
    lws_callback_on_writable(c->wsi);
    c->due_ns += r->period_ns;
    int64_t delay = c->due_ns - now;
    lws_sul_schedule(r->ctx, 0, &c->sul, send_timer, delay > 0 ? delay / 1000 : 0);
}

static int on_writable(struct client *c)
{
    struct run *r = c->run;
    if (c->want_close) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"done", 4);
        return -1;
    }
    if (!c->want_send)
        return 0;
    c->want_send = false;
    int64_t now = clock_mono_ns();
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
    return 0;
}

/* ---------------------------------------------------------------- receiving */
static int sender_index(const struct run *r, const struct client *c, const struct jscan_msg *m)
{
    if (r->o.raw)
        return m->has_c && m->c >= 0 && m->c < r->n ? (int)m->c : -1;
    if (!m->from || m->from_len != 36 || memcmp(m->from, r->uuid_prefix, 24) != 0)
        return -1;
    char hex[13];
    memcpy(hex, m->from + 24, 12);
    hex[12] = '\0';
    char *end;
    unsigned long long v = strtoull(hex, &end, 16);
    (void)c;
    return *end == '\0' && v < (unsigned long long)r->n ? (int)v : -1;
}

static void on_message(struct client *c, const struct jscan_msg *m, double now_ms)
{
    struct run *r = c->run;
    if (!m->has_op && !r->o.raw) {
        r->bad_msgs++;
        return;
    }
    long long op = m->has_op ? m->op : OP_REP_TRANSFORM; /* raw: our own messages come back */
    if (op == OP_WELCOME && c->state == C_OPEN) {
        c->state = C_JOINED;
        r->room_joined[c->room]++;
        r->joined++;
        r->inflight--;
        return;
    }
    if (op == OP_ERROR) {
        if (r->op_errors++ == 0)
            snprintf(r->first_op_error, sizeof r->first_op_error, "%.*s",
                     (int)(m->code_len < 100 ? m->code_len : 100), m->code ? m->code : "?");
        return;
    }
    if (op != OP_REP_TRANSFORM && op != OP_REP_OBJECT)
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
    r->delivered++;
    uint32_t *last = &c->last_seq[s % r->o.players];
    if (m->seq <= (long long)*last) {
        r->stale++;
    } else {
        r->seq_gaps += (uint64_t)(m->seq - (long long)*last - 1);
        *last = (uint32_t)m->seq;
    }
    double ws = (double)(r->win_start_ns - r->t0_ns) / 1e6, we = (double)(r->win_end_ns - r->t0_ns) / 1e6;
    if (m->t >= ws && m->t < we) {
        r->delivered_win++;
        hist_add(&r->lat, now_ms - m->t);
    }
}

struct frame_ctx {
    struct client *c;
    double now_ms;
};

static int frame_msg(void *arg, const struct jscan_msg *m)
{
    struct frame_ctx *fc = arg;
    on_message(fc->c, m, fc->now_ms);
    return 0;
}

static void on_frame(struct client *c, const char *p, size_t len)
{
    struct run *r = c->run;
    int64_t now = clock_mono_ns();
    struct frame_ctx fc = {c, (double)(now - r->t0_ns) / 1e6};
    r->rx_frames++;
    if (now >= r->win_start_ns && now < r->win_end_ns)
        c->bytes_in_win += len;
    if (jscan_frame(p, len, frame_msg, &fc) < 0)
        r->bad_msgs++;
}

static int on_receive(struct client *c, const char *in, size_t len)
{
    struct lws *wsi = c->wsi;
    bool whole = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (whole && c->rx_len == 0) {
        on_frame(c, in, len);
        return 0;
    }
    if (c->rx_len + len > RX_MAX_BYTES) {
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
static void start_connects(struct run *r);

static void client_gone(struct client *c, const char *why)
{
    struct run *r = c->run;
    if (c->state == C_CONNECTING || c->state == C_OPEN) {
        r->inflight--;
        r->connect_errors++;
        c->state = C_FAILED;
        r->failed++;
        if (!r->first_close[0])
            snprintf(r->first_close, sizeof r->first_close, "connect: %s", why ? why : "?");
    } else if (c->state == C_JOINED) {
        r->room_joined[c->room]--;
        if (r->phase < P_CLOSING) {
            r->closed_early++;
            if (!r->first_close[0])
                snprintf(r->first_close, sizeof r->first_close, "closed: %s", why ? why : "?");
        }
        c->state = C_CLOSED;
        r->closed++;
    }
    c->wsi = NULL;
    lws_sul_cancel(&c->sul);
}

static int cb_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct client *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        c->state = C_OPEN;
        if (c->run->o.raw) { /* the anchor relay sends no WELCOME: joined once open */
            c->state = C_JOINED;
            c->run->room_joined[c->room]++;
            c->run->joined++;
            c->run->inflight--;
        }
        start_connects(c->run);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (in && on_receive(c, in, len))
            return -1;
        if (c->state == C_JOINED && c->run->phase == P_CONNECT)
            start_connects(c->run);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2 && !c->run->first_close[0] && c->run->phase < P_CLOSING) {
            const unsigned char *u = in;
            snprintf(c->run->first_close, sizeof c->run->first_close, "peer close %d %.*s",
                     (u[0] << 8) | u[1], (int)(len - 2 < 100 ? len - 2 : 100), (const char *)in + 2);
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

static void start_connects(struct run *r)
{
    static bool busy; /* lws may call back into us from lws_client_connect_via_info */
    if (busy)
        return;
    busy = true;
    while (r->phase == P_CONNECT && r->inflight < r->o.inflight && r->next_connect < r->n) {
        struct client *c = &r->cl[r->next_connect++];
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
        c->state = C_CONNECTING;
        r->inflight++;
        if (!lws_client_connect_via_info(&ci) && c->state == C_CONNECTING)
            client_gone(c, "lws_client_connect_via_info failed");
    }
    busy = false;
}

/* ---------------------------------------------------------------- phases */
static void take_snap(const struct run *r, struct snap *s)
{
    s->mono_ns = clock_mono_ns();
    s->self_cpu_s = procstat_self_cpu_s();
    s->relay_ok = r->o.relay_pid > 0 && procstat_cpu_s(r->o.relay_pid, &s->relay_cpu_s);
    procstat_cores_read(&s->cores);
}

static uint64_t rnd_next(uint64_t *s) /* xorshift64 */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void begin_close(struct run *r)
{
    r->phase = P_CLOSING;
    r->phase_end_ns = clock_mono_ns() + 2000000000LL;
    for (int i = 0; i < r->n; i++) {
        struct client *c = &r->cl[i];
        lws_sul_cancel(&c->sul);
        if (c->wsi && (c->state == C_OPEN || c->state == C_JOINED)) {
            c->want_close = true;
            lws_callback_on_writable(c->wsi);
        }
    }
}

static void fail(struct run *r, const char *msg)
{
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "%s", msg);
    if (r->phase < P_CLOSING)
        begin_close(r);
}

static void start_sending(struct run *r, int64_t now)
{
    uint64_t rs = (uint64_t)r->o.seed * 2654435761ULL + 88172645463325252ULL;
    r->phase = P_RUN;
    r->send_start_ns = now;
    r->win_start_ns = now + r->o.warmup * 1000000000LL;
    r->win_end_ns = r->win_start_ns + r->o.duration * 1000000000LL;
    for (int i = 0; i < r->n; i++) { /* every client on its own period, at a random phase */
        struct client *c = &r->cl[i];
        int64_t offset = (int64_t)(rnd_next(&rs) % (uint64_t)r->period_ns);
        c->due_ns = now + offset;
        lws_sul_schedule(r->ctx, 0, &c->sul, send_timer, offset / 1000);
    }
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct run *r = lws_container_of(sul, struct run, tick);
    int64_t now = clock_mono_ns();
    char msg[200];
    if (g_interrupted && r->phase < P_CLOSING)
        fail(r, "interrupted");
    if (now > r->hard_deadline_ns) {
        fail(r, "hard deadline reached");
        r->phase = P_DONE;
    }
    switch (r->phase) {
    case P_CONNECT:
        if (r->joined == r->n) {
            r->connect_s = (double)(now - r->t0_ns) / 1e9;
            fprintf(stderr, "# relay-load: %d clients joined in %.2f s\n", r->n, r->connect_s);
            r->phase = P_SETTLE;
            r->phase_end_ns = now + 300000000LL;
        } else if ((r->failed > 0 && r->inflight == 0 && r->next_connect == r->n) ||
                   now > r->connect_deadline_ns) {
            snprintf(msg, sizeof msg, "only %d/%d clients joined (%s)", r->joined, r->n,
                     r->first_close[0] ? r->first_close : "timeout");
            fail(r, msg);
        }
        break;
    case P_SETTLE:
        if (now >= r->phase_end_ns)
            start_sending(r, now);
        break;
    case P_RUN:
        if (!r->have_s0 && now >= r->win_start_ns) {
            take_snap(r, &r->s0);
            r->have_s0 = true;
        }
        if (now >= r->win_end_ns) {
            take_snap(r, &r->s1);
            r->have_s1 = r->have_s0;
            if (r->o.relay_pid > 0) {
                r->relay_rss_mib = procstat_status_mib(r->o.relay_pid, "VmRSS:");
                r->relay_hwm_mib = procstat_status_mib(r->o.relay_pid, "VmHWM:");
            }
            r->phase = P_DRAIN;
            r->phase_end_ns = now + r->o.drain * 1000000000LL;
        }
        break;
    case P_DRAIN:
        if (now >= r->phase_end_ns)
            begin_close(r);
        break;
    case P_CLOSING: {
        int live = 0;
        for (int i = 0; i < r->n; i++)
            live += r->cl[i].wsi && r->cl[i].state != C_CONNECTING;
        if (live == 0 || now >= r->phase_end_ns)
            r->phase = P_DONE;
        break;
    }
    case P_DONE:
        break;
    }
    if (r->phase != P_DONE)
        lws_sul_schedule(r->ctx, 0, &r->tick, tick, 20000);
    else if (r->evlib)
        lws_context_destroy(r->ctx); /* breaks the event library's loop; main finishes it */
    else
        lws_cancel_service(r->ctx); /* nothing else may wake the poll() loop */
}

/* ---------------------------------------------------------------- set-up */
static int parse_url(struct run *r)
{
    const char *u = r->o.url, *h, *colon, *slash;
    if (strncmp(u, "ws://", 5)) {
        fprintf(stderr, "relay-load: --url must start with ws://\n");
        return -1;
    }
    h = u + 5;
    slash = strchr(h, '/');
    colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
    size_t hl = colon ? (size_t)(colon - h) : (slash ? (size_t)(slash - h) : strlen(h));
    if (hl == 0 || hl >= sizeof r->host) {
        fprintf(stderr, "relay-load: bad host in --url\n");
        return -1;
    }
    memcpy(r->host, h, hl);
    r->host[hl] = '\0';
    if (strncmp(r->host, "127.", 4) && strcmp(r->host, "localhost")) {
        fprintf(stderr, "relay-load: refusing %s: --url must be a loopback address\n", r->host);
        return -1;
    }
    r->port = 80;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || p < 1 || p > 65535) {
            fprintf(stderr, "relay-load: bad port in --url\n");
            return -1;
        }
        r->port = (int)p;
    }
    snprintf(r->base, sizeof r->base, "%s", slash ? slash : "");
    size_t bl = strlen(r->base);
    if (bl && r->base[bl - 1] == '/')
        r->base[bl - 1] = '\0';
    return 0;
}

static int setup_clients(struct run *r)
{
    char prefix[96], uid[64], user[32];
    int64_t now_s = clock_wall_ms() / 1000;
    unsigned tag = (unsigned)(r->o.seed & 0xffffffffu);
    snprintf(r->uuid_prefix, sizeof r->uuid_prefix, "%08x-0000-4000-8000-", tag);
    if (r->o.prefix)
        snprintf(prefix, sizeof prefix, "%s", r->o.prefix);
    else
        snprintf(prefix, sizeof prefix, "load-%08x-", tag);
    r->cl = calloc((size_t)r->n, sizeof *r->cl);
    r->room_joined = calloc((size_t)r->o.rooms, sizeof *r->room_joined);
    if (!r->cl || !r->room_joined)
        return -1;
    for (int i = 0; i < r->n; i++) {
        struct client *c = &r->cl[i];
        char *tok = NULL;
        c->run = r;
        c->idx = i;
        c->room = i / (int)r->o.players;
        c->px = (double)(i % 97) * 0.2;
        c->pz = (double)(i % 89) * 0.2;
        c->last_seq = calloc((size_t)r->o.players, sizeof *c->last_seq);
        if (!r->o.raw) {
            snprintf(uid, sizeof uid, "%s%012x", r->uuid_prefix, (unsigned)i);
            snprintf(user, sizeof user, "load-%d", i);
            tok = auth_mint_session(r->o.key, uid, user, now_s, now_s + 3600);
            if (!tok) {
                fprintf(stderr, "relay-load: cannot mint a token\n");
                return -1;
            }
        }
        size_t pl = strlen(r->base) + strlen(prefix) + 32 + (tok ? strlen(tok) + 8 : 0);
        c->path = malloc(pl);
        if (c->path)
            snprintf(c->path, pl, "%s/rooms/%s%d%s%s", r->base, prefix, c->room,
                     tok ? "?token=" : "", tok ? tok : "");
        free(tok);
        if (!c->path || !c->last_seq)
            return -1;
    }
    return 0;
}

static void free_run(struct run *r)
{
    for (int i = 0; r->cl && i < r->n; i++) {
        free(r->cl[i].path);
        free(r->cl[i].rx);
        free(r->cl[i].last_seq);
    }
    free(r->cl);
    free(r->room_joined);
    hist_clear(&r->lat);
    hist_clear(&r->lag);
}

/* ---------------------------------------------------------------- the RESULT line */
static void put_num(json_t *o, const char *k, double v, bool known)
{
    json_object_set_new(o, k, known && isfinite(v) ? json_real(round(v * 1000) / 1000) : json_null());
}

static void put_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(v));
}

static void print_result(struct run *r)
{
    json_t *o = json_object();
    double dur = (double)r->o.duration, win = 0;
    bool measured = r->have_s1;
    if (!o)
        return;
    if (measured)
        win = (double)(r->s1.mono_ns - r->s0.mono_ns) / 1e9;
    json_object_set_new(o, "test", json_string("relay"));
    json_object_set_new(o, "target", json_string(r->o.target));
    json_object_set_new(o, "generator", json_string("relay-load.c"));
    put_int(o, "rooms", r->o.rooms);
    put_int(o, "clients_per_room", r->o.players);
    put_int(o, "hz", r->o.hz);
    put_num(o, "msg_bytes", r->sent ? (double)r->sent_bytes / (double)r->sent : 0, r->sent > 0);
    put_int(o, "duration_s", r->o.duration);
    put_int(o, "warmup_s", r->o.warmup);
    put_int(o, "drain_s", r->o.drain);
    if (r->error[0])
        json_object_set_new(o, "error", json_string(r->error));
    put_num(o, "connect_s", r->connect_s, r->connect_s > 0);
    put_num(o, "sends_per_s", (double)r->sent_win / dur, true);
    put_int(o, "target_sends_per_s", (long long)r->n * r->o.hz);
    put_num(o, "deliveries_per_s", (double)r->delivered_win / dur, true);
    put_int(o, "target_deliveries_per_s", (long long)r->n * r->o.hz * (r->o.players - 1));
    bool lat = r->lat.count > 0;
    put_num(o, "p50_ms", hist_pct(&r->lat, 50), lat);
    put_num(o, "p90_ms", hist_pct(&r->lat, 90), lat);
    put_num(o, "p99_ms", hist_pct(&r->lat, 99), lat);
    put_num(o, "p999_ms", hist_pct(&r->lat, 99.9), lat);
    put_num(o, "max_ms", r->lat.max_ms, lat);
    put_num(o, "mean_ms", hist_mean(&r->lat), lat);
    put_int(o, "sent", (long long)r->sent);
    put_int(o, "expected_deliveries", (long long)r->expected);
    put_int(o, "delivered", (long long)r->delivered);
    put_int(o, "drops", (long long)r->expected - (long long)r->delivered);
    put_num(o, "drop_pct",
            r->expected ? 100.0 * ((double)r->expected - (double)r->delivered) / (double)r->expected
                        : 0, true);
    put_int(o, "seq_gaps", (long long)r->seq_gaps);
    put_int(o, "stale", (long long)r->stale);
    put_int(o, "echoes", (long long)r->echoes);
    put_int(o, "foreign", (long long)r->foreign);
    put_int(o, "bad_msgs", (long long)r->bad_msgs);
    put_int(o, "op_errors", (long long)r->op_errors);
    if (r->first_op_error[0])
        json_object_set_new(o, "first_op_error", json_string(r->first_op_error));
    put_int(o, "closed_early", (long long)r->closed_early);
    put_int(o, "connect_errors", (long long)r->connect_errors);
    if (r->first_close[0])
        json_object_set_new(o, "first_close", json_string(r->first_close));
    put_num(o, "msgs_per_frame", r->rx_frames ? (double)r->delivered / (double)r->rx_frames : 0,
            r->rx_frames > 0);
    uint64_t bin = 0, bout = 0, bin_max = 0;
    for (int i = 0; i < r->n; i++) {
        bin += r->cl[i].bytes_in_win;
        bout += r->cl[i].bytes_out_win;
        if (r->cl[i].bytes_in_win > bin_max)
            bin_max = r->cl[i].bytes_in_win;
    }
    put_num(o, "bytes_in_per_client_s", (double)bin / (double)r->n / dur, measured);
    put_num(o, "bytes_out_per_client_s", (double)bout / (double)r->n / dur, measured);
    put_num(o, "max_bytes_in_client_s", (double)bin_max / dur, measured);
    put_num(o, "loadgen_cpu_pct", 100.0 * (r->s1.self_cpu_s - r->s0.self_cpu_s) / win,
            measured && win > 0);
    put_num(o, "loadgen_timer_lag_p99_ms", hist_pct(&r->lag, 99), r->lag.count > 0);
    put_int(o, "sends_merged", (long long)r->timer_late);
    bool rel = measured && win > 0 && r->s0.relay_ok && r->s1.relay_ok;
    double rcpu = rel ? 100.0 * (r->s1.relay_cpu_s - r->s0.relay_cpu_s) / win : 0;
    put_int(o, "relay_pid", r->o.relay_pid);
    put_num(o, "relay_cpu_pct", rcpu, rel);
    put_num(o, "relay_rss_mib", r->relay_rss_mib, rel && r->relay_rss_mib >= 0);
    put_num(o, "relay_peak_rss_mib", r->relay_hwm_mib, rel && r->relay_hwm_mib >= 0);
    put_num(o, "relay_peak_rss_kib_per_room", r->relay_hwm_mib * 1024.0 / (double)r->o.rooms,
            rel && r->relay_hwm_mib >= 0);
    put_num(o, "server_cpu_pct", rcpu, rel); /* the anchors' names for the same figures */
    put_num(o, "server_rss_mib", r->relay_rss_mib, rel && r->relay_rss_mib >= 0);
    for (int i = 0; measured && i < r->s1.cores.n; i++) {
        char k[32];
        snprintf(k, sizeof k, "cpu%d_busy_pct", i);
        double b = procstat_core_busy_pct(&r->s0.cores, &r->s1.cores, i);
        put_num(o, k, b, b >= 0);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (s) {
        printf("RESULT %s\n", s);
        fflush(stdout);
    }
    free(s);
    json_decref(o);
}

/* ---------------------------------------------------------------- main */
int main(int argc, char **argv)
{
    static struct run run; /* large; lives for the whole program */
    struct run *r = &run;
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
    r->n = (int)(r->o.rooms * r->o.players);
    if (r->n > MAX_CLIENTS) {
        fprintf(stderr, "relay-load: refusing more than %d clients\n", MAX_CLIENTS);
        return 2;
    }
    if (parse_url(r))
        return 2;
    if (r->o.seed == 0)
        r->o.seed = (long long)((clock_wall_ms() ^ ((int64_t)getpid() << 16)) & 0x7fffffff);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
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
    if (hist_init(&r->lat, 0.01, 10000) || hist_init(&r->lag, 0.1, 10000) || setup_clients(r)) {
        fprintf(stderr, "relay-load: out of memory\n");
        goto out;
    }
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.fd_limit_per_thread = (unsigned)r->n + 64;
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
    r->hard_deadline_ns = r->connect_deadline_ns +
                          (r->o.warmup + r->o.duration + r->o.drain + 10) * 1000000000LL;
    start_connects(r);
    lws_sul_schedule(r->ctx, 0, &r->tick, tick, 20000);
    while (r->phase != P_DONE) {
        if (lws_service(r->ctx, 0) < 0) {
            fail(r, "event loop failed");
            break;
        }
    }
    r->phase = P_DONE;
    print_result(r);
    lws_context_destroy(r->ctx);
    rc = r->error[0] ? 1 : 0;
out:
    free_run(r);
    return rc;
}
