/* metrics.c — relay counters and the Prometheus text rendering of /metrics. */
#include "relay/metrics.h"
#include "common/prom.h"

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

_Static_assert(METRICS_LAT_BUCKETS == RELAY_FANOUT_BUCKETS, "one set of fan-out buckets");

size_t metrics_fanout_bucket(double seconds)
{
    size_t i = 0;
    while (i < METRICS_LAT_BUCKETS && seconds > lat_bounds[i])
        i++;
    return i;
}

void metrics_fanout_observe(struct metrics *m, int64_t ns)
{
    double s = (double)(ns < 0 ? 0 : ns) / 1e9;
    size_t i = metrics_fanout_bucket(s);
    if (i < METRICS_LAT_BUCKETS)
        m->lat_buckets[i]++;
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

/* A label value as the text format wants it (backslash, quote and newline escaped). */
static void put_label(FILE *f, const char *v)
{
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc('\\', f);
        if (*c == '\n')
            fputs("\\n", f);
        else
            fputc(*c, f);
    }
}

/* {room="…",user="…" (no closing brace: the caller may add labels) */
static void put_client_labels(FILE *f, const struct metrics_client *c)
{
    fputs("{room=\"", f);
    put_label(f, c->room_id);
    fputs("\",user=\"", f);
    put_label(f, c->user_id);
    fputc('"', f);
}

enum client_figure { CF_MSGS_IN, CF_BYTES_IN, CF_MSGS_OUT, CF_BYTES_OUT, CF_FRAMES_OUT, CF_QUEUED };

static void render_clients(FILE *f, const struct metrics_client *cs, size_t n)
{
    static const struct {
        const char *name, *type, *help;
    } fig[] = {
        {"roomstate_relay_client_messages_in_total", "counter",
         "Messages received from a connected client (since it connected)."},
        {"roomstate_relay_client_bytes_in_total", "counter",
         "Payload bytes received from a connected client."},
        {"roomstate_relay_client_messages_out_total", "counter",
         "Messages queued for a connected client."},
        {"roomstate_relay_client_bytes_out_total", "counter",
         "Payload bytes queued for a connected client."},
        {"roomstate_relay_client_frames_out_total", "counter",
         "WebSocket messages queued for a connected client."},
        {"roomstate_relay_client_queued_bytes", "gauge",
         "Bytes the relay holds unsent for a connected client."},
    };
    for (size_t k = 0; k < sizeof fig / sizeof fig[0]; k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fig[k].name, fig[k].help, fig[k].name,
                fig[k].type);
        for (size_t i = 0; i < n; i++) {
            const struct relay_peer_stats *st = cs[i].stats;
            uint64_t v = k == CF_MSGS_IN      ? st->msgs_in
                         : k == CF_BYTES_IN   ? st->bytes_in
                         : k == CF_MSGS_OUT   ? st->msgs_out
                         : k == CF_BYTES_OUT  ? st->bytes_out
                         : k == CF_FRAMES_OUT ? st->frames_out
                                              : (uint64_t)cs[i].queued_bytes;
            fputs(fig[k].name, f);
            put_client_labels(f, &cs[i]);
            fprintf(f, "} %llu\n", (unsigned long long)v);
        }
    }
    fprintf(f, "# HELP roomstate_relay_client_drops_total A connected client's messages dropped "
               "(slow: tick data skipped for it), by reason; reasons with a count only.\n"
               "# TYPE roomstate_relay_client_drops_total counter\n");
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < RELAY_DROP_COUNT; d++) {
            if (!cs[i].stats->drops[d])
                continue;
            fputs("roomstate_relay_client_drops_total", f);
            put_client_labels(f, &cs[i]);
            fprintf(f, ",reason=\"%s\"} %llu\n", relay_drop_name((enum relay_drop)d),
                    (unsigned long long)cs[i].stats->drops[d]);
        }
    }
}

static void render_room_fanout(FILE *f, const struct metrics_room *rs, size_t n)
{
    fprintf(f, "# HELP roomstate_relay_room_fanout_seconds Per room: from the receipt of a "
               "message to the write of the frame that carries it.\n"
               "# TYPE roomstate_relay_room_fanout_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        const struct relay_fanout_hist *h = rs[i].fanout;
        if (!h)
            continue;
        char label[RELAY_MAX_ROOM_ID + 16];
        snprintf(label, sizeof label, "room=\"%s\"", rs[i].room_id);
        prom_histogram(f, "roomstate_relay_room_fanout_seconds", label, lat_bounds, h->buckets,
                       METRICS_LAT_BUCKETS, h->count, h->sum_s);
    }
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
    prom_histogram(f, "roomstate_relay_fanout_seconds", NULL, lat_bounds, m->lat_buckets,
                   METRICS_LAT_BUCKETS, m->lat_count, m->lat_sum_s);
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
        render_room_fanout(f, g->per_room, n);
    }
    if (g->per_client && g->per_client_count)
        render_clients(f, g->per_client,
                       g->per_client_count < METRICS_MAX_CLIENTS_RENDERED
                           ? g->per_client_count
                           : METRICS_MAX_CLIENTS_RENDERED);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
