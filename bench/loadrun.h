/* loadrun.h — the state of one relay-load run, its set-up and its report (bench/ only).
 *
 * relay-load.c drives the run (libwebsockets, phases, sending and receiving); this module
 * owns what is around it: the options, the clients and their tokens and paths, the samples
 * taken at the edges of the measure window, and the final `RESULT {json}` line. */
#ifndef ROOMSTATE_BENCH_LOADRUN_H
#define ROOMSTATE_BENCH_LOADRUN_H

#include "bench/hist.h"
#include "bench/procstat.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define LOADRUN_OP_WELCOME 1
#define LOADRUN_OP_ERROR 5
#define LOADRUN_OP_OWNERSHIP_REQUEST 10
#define LOADRUN_OP_OWNERSHIP_GRANTED 11
#define LOADRUN_OP_OWNERSHIP_DENIED 12
#define LOADRUN_OP_OBJECT_SPAWN 20
#define LOADRUN_OP_MANIFEST_REGISTER 25
#define LOADRUN_OP_REP_TRANSFORM 30
#define LOADRUN_OP_REP_OBJECT 31
#define LOADRUN_OP_SNAPSHOT_REQUEST 40
#define LOADRUN_OP_SNAPSHOT_DONE 42
#define LOADRUN_TX_MAX 512
#define LOADRUN_RX_MAX_BYTES (1024 * 1024) /* one reassembled frame at most */
#define LOADRUN_MAX_CLIENTS 20000

struct loadrun_opts {
    const char *url, *key, *key_file, *target, *prefix, *evlib;
    long long rooms, players, hz, duration, warmup, drain, relay_pid, connect_timeout;
    long long inflight, seed;
    bool raw, objects;
};

enum loadrun_client_state {
    LOADRUN_C_IDLE = 0,
    LOADRUN_C_CONNECTING, /* handshake in flight */
    LOADRUN_C_OPEN,       /* WebSocket open, WELCOME not yet received */
    LOADRUN_C_JOINED,     /* in the room: counted as a peer */
    LOADRUN_C_CLOSED,
    LOADRUN_C_FAILED
};
enum loadrun_phase {
    LOADRUN_P_CONNECT = 0, /* every client connects and is welcomed */
    LOADRUN_P_SETTLE,      /* a short pause */
    LOADRUN_P_RUN,         /* sending: warm-up, then the measure window */
    LOADRUN_P_DRAIN,       /* no more sends; late deliveries still counted */
    LOADRUN_P_CLOSING,     /* clean closes */
    LOADRUN_P_DONE
};

/* --objects: a client's way from WELCOME to holding its object.  It asks for the room's
 * snapshot first, as every joining client must: the relay sends live object-plane messages
 * (REP_OBJECT ...) to a client that joined a room with objects or manifests only after its
 * SNAPSHOT_REQUEST (docs/relay-protocol.md, "Late join"). */
enum loadrun_obj_setup {
    LOADRUN_S_NONE = 0,
    LOADRUN_S_SNAPSHOT, /* write SNAPSHOT_REQUEST */
    LOADRUN_S_SYNCING,  /* awaiting SNAPSHOT_DONE */
    LOADRUN_S_MANIFEST, /* write MANIFEST_REGISTER */
    LOADRUN_S_SPAWN,    /* write OBJECT_SPAWN */
    LOADRUN_S_REQUEST,  /* write OWNERSHIP_REQUEST */
    LOADRUN_S_GRANT,    /* awaiting OWNERSHIP_GRANTED */
    LOADRUN_S_HOLDING   /* ready */
};

struct loadrun;

struct loadrun_client {
    struct loadrun *run;
    struct lws *wsi;
    int idx, room;
    enum loadrun_client_state state;
    bool want_send, want_close, want_obj;
    bool ready;                   /* joined (and, with --objects, holding its object): may send */
    bool synced;                  /* --objects: got SNAPSHOT_DONE (receives REP_OBJECT) */
    enum loadrun_obj_setup setup; /* --objects */
    uint32_t obj_seq;
    long long epoch; /* of the held object, from OWNERSHIP_GRANTED */
    uint32_t seq;
    int64_t due_ns; /* its next send (one period apart, at its own random phase) */
    double px, pz;
    uint32_t *last_seq;     /* per peer of the room: last seq received from it */
    uint32_t *last_obj_seq; /* per peer of the room: last REP_OBJECT seq received from it */
    char *path;
    char *rx;
    size_t rx_len, rx_cap;
    uint64_t bytes_in_win, bytes_out_win;
    unsigned char tx[LWS_PRE + LOADRUN_TX_MAX];
};

struct loadrun_snap { /* what is sampled at the start and the end of the measure window */
    int64_t mono_ns;
    double self_cpu_s, relay_cpu_s;
    bool relay_ok;
    struct procstat_cores cores;
};

struct loadrun {
    struct loadrun_opts o;
    char host[256], base[256], uuid_prefix[25];
    int port, n;
    bool evlib; /* libev/libuv: lws_service() runs the loop until the context is destroyed */
    struct lws_context *ctx;
    struct loadrun_client *cl;
    int *room_joined;
    int *room_synced; /* --objects: clients of the room that have had their snapshot */
    enum loadrun_phase phase;
    int next_connect, inflight, joined, closed, failed;
    int64_t t0_ns, connect_deadline_ns, phase_end_ns, send_start_ns, win_start_ns, win_end_ns;
    int64_t period_ns, hard_deadline_ns;
    lws_sorted_usec_list_t tick;
    /* the send schedule: one timer for all clients.  Every client sends once per period at
     * its own phase, so their order by due time never changes: send_order is the clients
     * sorted by phase, send_next the next one due (loadrun_plan_sends). */
    lws_sorted_usec_list_t send_sul;
    int *send_order;
    int send_next;
    struct loadrun_snap s0, s1;
    bool have_s0, have_s1;
    double connect_s;
    char error[256], first_close[160];
    /* counters */
    uint64_t sent, sent_win, sent_bytes, expected, delivered, delivered_win, seq_gaps, stale;
    uint64_t echoes, foreign, bad_msgs, op_errors, closed_early, connect_errors, timer_late;
    uint64_t rx_frames, obj_sent, obj_sent_win, obj_expected, obj_delivered, obj_delivered_win;
    uint64_t obj_seq_gaps, obj_stale, obj_last_missing;
    char first_op_error[128];
    struct hist lat, lag, lat_obj;
    double relay_rss_mib, relay_hwm_mib;
};

/* Splits o.url (ws://HOST:PORT[/base], loopback only) into host, port and base.
 * Returns 0, or -1 with a message on stderr. */
int loadrun_parse_url(struct loadrun *r) __attribute__((warn_unused_result));
/* Allocates the clients (n = rooms x players), their room paths and, unless o.raw, one
 * Nakama session token each (user id <uuid_prefix><index as 12 hex digits>), and the
 * histograms.  Returns 0, or -1 with a message on stderr. */
int loadrun_setup(struct loadrun *r) __attribute__((warn_unused_result));
void loadrun_free(struct loadrun *r);
/* Gives every client a random phase in [now, now + period_ns) (seeded by o.seed) as its first
 * due_ns and sorts send_order by it; send_next = 0. */
void loadrun_plan_sends(struct loadrun *r, int64_t now);
/* Samples the clocks, this process's and the relay's CPU and the per-core counters. */
void loadrun_snap(const struct loadrun *r, struct loadrun_snap *s);
/* Prints the one `RESULT {json}` line on stdout. */
void loadrun_print_result(const struct loadrun *r);

#endif
