/* metrics.c — relay counters and the Prometheus text rendering of /metrics. */
#include "relay/metrics.h"

#include "opcodes.h"
#include "relay/room.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the fan-out histogram, seconds. */
static const double lat_bounds[METRICS_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.035,
                                                       0.05,  0.075,  0.1,   0.25, 0.5,  1.0};

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof *m);
}

void metrics_frame_in(struct metrics *m, size_t bytes)
{
    m->frames_in++;
    m->bytes_in += bytes;
}

void metrics_frame_out(struct metrics *m, size_t bytes)
{
    m->frames_out++;
    m->bytes_out += bytes;
}

static bool reason_ok(const char *r)
{
    if (!r || !*r || strlen(r) >= METRICS_REASON_LEN)
        return false;
    for (const char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static void reason_add(struct metrics_reasons *rs, const char *reason)
{
    if (!reason_ok(reason))
        reason = "other";
    for (size_t i = 0; i < rs->count; i++) {
        if (!strcmp(rs->items[i].name, reason)) {
            rs->items[i].count++;
            return;
        }
    }
    if (rs->count == METRICS_MAX_REASONS) {
        if (strcmp(reason, "other") != 0)
            reason_add(rs, "other");
        else
            rs->items[METRICS_MAX_REASONS - 1].count++; /* table full of names: keep a count */
        return;
    }
    struct metrics_reason *it = &rs->items[rs->count++];
    snprintf(it->name, sizeof it->name, "%s", reason);
    it->count = 1;
}

void metrics_drop(struct metrics *m, const char *reason)
{
    reason_add(&m->drops, reason);
}

void metrics_reject(struct metrics *m, const char *reason)
{
    reason_add(&m->rejected, reason);
}

void metrics_close(struct metrics *m, const char *reason)
{
    reason_add(&m->closes, reason);
}

void metrics_fanout_observe(struct metrics *m, int64_t ns)
{
    double s = (double)(ns < 0 ? 0 : ns) / 1e9;
    for (size_t i = 0; i < METRICS_LAT_BUCKETS; i++) {
        if (s <= lat_bounds[i]) {
            m->lat_buckets[i]++;
            break;
        }
    }
    m->lat_count++;
    m->lat_sum_s += s;
}

static void render_ops(FILE *f, const char *name, const char *help, const uint64_t *counts)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int op = 1; op < RELAY_COUNTED_OPS; op++) {
        const char *opname = relay_op_name(op);
        if (opname)
            fprintf(f, "%s{op=\"%s\"} %llu\n", name, opname, (unsigned long long)counts[op]);
    }
    fprintf(f, "%s{op=\"unknown\"} %llu\n", name, (unsigned long long)counts[0]);
}

static void render_reasons(FILE *f, const char *name, const char *help,
                           const struct metrics_reasons *rs)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < rs->count; i++)
        fprintf(f, "%s{reason=\"%s\"} %llu\n", name, rs->items[i].name,
                (unsigned long long)rs->items[i].count);
}

char *metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    fprintf(f,
            "# HELP roomstate_relay_rooms Rooms held in memory (occupied or within their "
            "empty-room TTL).\n# TYPE roomstate_relay_rooms gauge\nroomstate_relay_rooms %u\n",
            g->rooms);
    fprintf(f,
            "# HELP roomstate_relay_clients Open WebSocket connections in rooms.\n"
            "# TYPE roomstate_relay_clients gauge\nroomstate_relay_clients %u\n",
            g->clients);
    fprintf(f,
            "# HELP roomstate_relay_connections_total WebSocket connections accepted.\n"
            "# TYPE roomstate_relay_connections_total counter\n"
            "roomstate_relay_connections_total %llu\n",
            (unsigned long long)m->connections_total);
    if (g->hub) {
        render_ops(f, "roomstate_relay_messages_in_total", "Messages received, by opcode.",
                   g->hub->msgs_in_by_op);
        render_ops(f, "roomstate_relay_messages_out_total", "Messages sent, by opcode.",
                   g->hub->msgs_out_by_op);
    }
    fprintf(f,
            "# HELP roomstate_relay_frames_in_total WebSocket messages received.\n"
            "# TYPE roomstate_relay_frames_in_total counter\nroomstate_relay_frames_in_total %llu\n"
            "# HELP roomstate_relay_frames_out_total WebSocket messages sent.\n"
            "# TYPE roomstate_relay_frames_out_total counter\n"
            "roomstate_relay_frames_out_total %llu\n"
            "# HELP roomstate_relay_bytes_in_total Payload bytes received.\n"
            "# TYPE roomstate_relay_bytes_in_total counter\nroomstate_relay_bytes_in_total %llu\n"
            "# HELP roomstate_relay_bytes_out_total Payload bytes sent.\n"
            "# TYPE roomstate_relay_bytes_out_total counter\n"
            "roomstate_relay_bytes_out_total %llu\n",
            (unsigned long long)m->frames_in, (unsigned long long)m->frames_out,
            (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out);
    fprintf(f, "# HELP roomstate_relay_drops_total Messages dropped, by reason.\n"
               "# TYPE roomstate_relay_drops_total counter\n");
    for (int d = 0; g->hub && d < RELAY_DROP_COUNT; d++)
        fprintf(f, "roomstate_relay_drops_total{reason=\"%s\"} %llu\n",
                relay_drop_name((enum relay_drop)d), (unsigned long long)g->hub->drops[d]);
    for (size_t i = 0; i < m->drops.count; i++)
        fprintf(f, "roomstate_relay_drops_total{reason=\"%s\"} %llu\n", m->drops.items[i].name,
                (unsigned long long)m->drops.items[i].count);
    render_reasons(f, "roomstate_relay_handshakes_rejected_total",
                   "WebSocket handshakes refused, by reason.", &m->rejected);
    render_reasons(f, "roomstate_relay_closes_total", "Connections closed by the relay, by reason.",
                   &m->closes);
    fprintf(f,
            "# HELP roomstate_relay_ticks_total Relay ticks run.\n"
            "# TYPE roomstate_relay_ticks_total counter\nroomstate_relay_ticks_total %llu\n",
            (unsigned long long)m->ticks_total);
    fprintf(
        f,
        "# HELP roomstate_relay_fanout_seconds From the receipt of a message to the "
        "write of the frame that carries it.\n# TYPE roomstate_relay_fanout_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_LAT_BUCKETS; i++) {
        cum += m->lat_buckets[i];
        fprintf(f, "roomstate_relay_fanout_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
                (unsigned long long)cum);
    }
    fprintf(f,
            "roomstate_relay_fanout_seconds_bucket{le=\"+Inf\"} %llu\n"
            "roomstate_relay_fanout_seconds_sum %.9f\nroomstate_relay_fanout_seconds_count %llu\n",
            (unsigned long long)m->lat_count, m->lat_sum_s, (unsigned long long)m->lat_count);
    if (g->per_room && g->per_room_count) {
        size_t n = g->per_room_count < METRICS_MAX_ROOMS_RENDERED ? g->per_room_count
                                                                  : METRICS_MAX_ROOMS_RENDERED;
        fprintf(f, "# HELP roomstate_relay_room_clients Clients per room.\n"
                   "# TYPE roomstate_relay_room_clients gauge\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "roomstate_relay_room_clients{room=\"%s\"} %u\n", g->per_room[i].room_id,
                    g->per_room[i].clients);
        fprintf(f, "# HELP roomstate_relay_room_bytes_in_total Payload bytes received per room.\n"
                   "# TYPE roomstate_relay_room_bytes_in_total counter\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "roomstate_relay_room_bytes_in_total{room=\"%s\"} %llu\n",
                    g->per_room[i].room_id, (unsigned long long)g->per_room[i].bytes_in);
        fprintf(f, "# HELP roomstate_relay_room_bytes_out_total Payload bytes sent per room.\n"
                   "# TYPE roomstate_relay_room_bytes_out_total counter\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "roomstate_relay_room_bytes_out_total{room=\"%s\"} %llu\n",
                    g->per_room[i].room_id, (unsigned long long)g->per_room[i].bytes_out);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
