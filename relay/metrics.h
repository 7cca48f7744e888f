/* metrics.h — the relay's counters and their Prometheus text rendering (/metrics).
 *
 * One struct per relay process, owned by the transport and touched only from the event loop
 * (no locks).  Counters: messages in and out by opcode, frames and bytes in and out, drops by
 * reason (a short [a-z_] name such as "stale", "not_owner", "rate", "malformed"; at most
 * METRICS_MAX_REASONS distinct names, later ones are counted as "other"), connections,
 * handshake rejections and closes by reason, and a fan-out latency histogram (seconds).
 * Gauges (rooms, clients) are passed in when rendering. */
#ifndef ROOMSTATE_RELAY_METRICS_H
#define ROOMSTATE_RELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_OP 63 /* opcodes 0..63 are counted one by one; others as "other" */
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
    uint64_t msgs_in[METRICS_MAX_OP + 2]; /* last slot: unknown / out of range op */
    uint64_t msgs_out[METRICS_MAX_OP + 2];
    uint64_t frames_in, frames_out;
    uint64_t bytes_in, bytes_out;
    uint64_t connections_total;
    uint64_t ticks_total;
    struct metrics_reasons drops;    /* messages dropped, by reason */
    struct metrics_reasons rejected; /* handshakes refused, by reason */
    struct metrics_reasons closes;   /* connections closed by the relay, by reason */
    uint64_t lat_buckets[METRICS_LAT_BUCKETS]; /* cumulative at render time */
    uint64_t lat_count;
    double lat_sum_s;
};

/* Per-room figures for the render (bandwidth per room). */
struct metrics_room {
    const char *room_id;
    unsigned clients;
    uint64_t bytes_in, bytes_out;
};

struct metrics_gauges {
    unsigned rooms;
    unsigned clients;
    const struct metrics_room *per_room; /* may be NULL */
    size_t per_room_count;               /* rendered up to METRICS_MAX_ROOMS_RENDERED */
};

#define METRICS_MAX_ROOMS_RENDERED 1000

void metrics_init(struct metrics *m);
/* One message (op as sent; out-of-range ops are counted as unknown). */
void metrics_msg_in(struct metrics *m, long long op);
void metrics_msg_out(struct metrics *m, long long op);
/* One WebSocket frame (a whole message) of bytes. */
void metrics_frame_in(struct metrics *m, size_t bytes);
void metrics_frame_out(struct metrics *m, size_t bytes);
void metrics_drop(struct metrics *m, const char *reason);
void metrics_reject(struct metrics *m, const char *reason);
void metrics_close(struct metrics *m, const char *reason);
/* One fan-out duration in nanoseconds. */
void metrics_fanout_observe(struct metrics *m, int64_t ns);

/* Renders the Prometheus text exposition (version 0.0.4) into a malloc'd NUL-terminated
 * buffer the caller frees; *len gets its length.  NULL when out of memory. */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len);

#endif
