/* metrics.h — the relay's counters and their Prometheus text rendering (/metrics).
 *
 * One struct per relay process, owned by the transport and touched only from the event loop
 * (no locks).  The transport counts what it sees: WebSocket frames and bytes in and out,
 * connections, handshakes refused and connections closed by reason, transport-level drops
 * (a short [a-z_] reason; at most METRICS_MAX_REASONS distinct names, later ones count as
 * "other"), and the fan-out latency histogram: for every frame written, the time from the
 * receipt of the oldest input it carries to its write (relay_frame.origin_ms).
 * The rules' counters (messages by op, drops by reason, per-room bytes and fan-out
 * histograms, per-client figures) and the gauges (rooms, clients) are passed in when
 * rendering.  Per-room and per-client series exist only for rooms held and clients connected
 * at render time (bounded by METRICS_MAX_ROOMS_RENDERED / METRICS_MAX_CLIENTS_RENDERED), so
 * their cardinality follows the relay's current load, not its history. */
#ifndef ROOMSTATE_RELAY_METRICS_H
#define ROOMSTATE_RELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct relay_counters;
struct relay_fanout_hist;
struct relay_peer_stats;

#define METRICS_MAX_REASONS 48
#define METRICS_REASON_LEN 32
#define METRICS_LAT_BUCKETS 12

struct metrics_reason {
    char name[METRICS_REASON_LEN];
    uint64_t count;
};

struct metrics_reasons {
    struct metrics_reason items[METRICS_MAX_REASONS];
    size_t count;
};

struct metrics {
    uint64_t frames_in, frames_out;
    uint64_t bytes_in, bytes_out;
    uint64_t connections_total;
    uint64_t ticks_total;
    struct metrics_reasons drops;              /* messages dropped by the transport, by reason */
    struct metrics_reasons rejected;           /* handshakes refused, by reason */
    struct metrics_reasons closes;             /* connections closed by the relay, by reason */
    uint64_t lat_buckets[METRICS_LAT_BUCKETS]; /* cumulative at render time */
    uint64_t lat_count;
    double lat_sum_s;
};

/* Per-room figures for the render (bandwidth per room). */
struct metrics_room {
    const char *room_id;
    unsigned clients;
    uint64_t bytes_in, bytes_out;
    const struct relay_fanout_hist *fanout; /* may be NULL */
};

/* Per-client figures (connections in rooms): labels room and user. */
struct metrics_client {
    const char *room_id;
    const char *user_id;
    const struct relay_peer_stats *stats;
    size_t queued_bytes; /* unsent bytes the relay holds for it now */
};

struct metrics_gauges {
    unsigned rooms;
    unsigned clients;
    const struct relay_counters *hub;        /* the rules' totals (relay/room.h), may be NULL */
    const struct metrics_room *per_room;     /* may be NULL */
    size_t per_room_count;                   /* rendered up to METRICS_MAX_ROOMS_RENDERED */
    const struct metrics_client *per_client; /* may be NULL */
    size_t per_client_count;                 /* rendered up to METRICS_MAX_CLIENTS_RENDERED */
};

#define METRICS_MAX_ROOMS_RENDERED 1000
#define METRICS_MAX_CLIENTS_RENDERED 5000

void metrics_init(struct metrics *m);
/* One WebSocket frame (a whole message) of bytes. */
void metrics_frame_in(struct metrics *m, size_t bytes);
void metrics_frame_out(struct metrics *m, size_t bytes);
void metrics_drop(struct metrics *m, const char *reason);
void metrics_reject(struct metrics *m, const char *reason);
void metrics_close(struct metrics *m, const char *reason);
/* One fan-out latency (receipt of the input to the write of the frame), nanoseconds. */
void metrics_fanout_observe(struct metrics *m, int64_t ns);
/* The fan-out histogram bucket of a latency in seconds (METRICS_LAT_BUCKETS: above every
 * bound), for the per-room histograms (relay_room_fanout_add). */
size_t metrics_fanout_bucket(double seconds);

/* Renders the Prometheus text exposition (version 0.0.4) into a malloc'd NUL-terminated
 * buffer the caller frees; *len gets its length.  NULL when out of memory. */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len);

#endif
