/* metrics.c — counters behind /metrics (see metrics.h). */
#include "server/metrics.h"
#include "common/prom.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const route_labels[METRICS_ROUTE_COUNT] = {
    "/rooms/{room_id}/save",
    "/rooms/{room_id}/state",
    "/rooms/{room_id}/versions",
    "/livekit/token",
    "/healthz",
    "/readyz",
    "/metrics",
    "/rooms/{room_id}/lease",
    "/rooms/{room_id}/checkpoint",
    "other",
};

/* The statuses the server answers; anything else is counted as "other". */
static const unsigned statuses[] = {200, 201, 204, 304, 400, 401, 403, 404,
                                    405, 409, 412, 413, 415, 422, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* Upper bounds of the duration histogram, in seconds (+Inf implied). */
static const double buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBUCKETS (sizeof buckets_s / sizeof buckets_s[0])

static atomic_ullong requests[METRICS_ROUTE_COUNT][NSTATUS + 1];
static atomic_ullong dur_buckets[METRICS_ROUTE_COUNT][NBUCKETS + 1];
static atomic_ullong dur_sum_ns[METRICS_ROUTE_COUNT];
static atomic_ullong saves_created, saves_updated, bytes_stored;
static atomic_ullong auth_failures[AUTH_RESULT_COUNT];
static atomic_ullong cache_hits, cache_misses, confirmed_by_query, confirmed_by_watch;
static atomic_llong conns_open;
static atomic_ullong conns_refused_ip, conns_refused_total, conns_head_timeout, conns_body_timeout,
    conns_body_cut;

const char *metrics_route_label(enum metrics_route r)
{
    return (unsigned)r < METRICS_ROUTE_COUNT ? route_labels[r] : "other";
}

void metrics_request(enum metrics_route route, unsigned status, int64_t duration_ns)
{
    if ((unsigned)route >= METRICS_ROUTE_COUNT)
        route = METRICS_ROUTE_OTHER;
    size_t si = NSTATUS;
    for (size_t i = 0; i < NSTATUS; i++)
        if (statuses[i] == status)
            si = i;
    atomic_fetch_add_explicit(&requests[route][si], 1, memory_order_relaxed);
    if (duration_ns < 0)
        duration_ns = 0;
    double s = (double)duration_ns / 1e9;
    size_t b = NBUCKETS;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (s <= buckets_s[i]) {
            b = i;
            break;
        }
    atomic_fetch_add_explicit(&dur_buckets[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dur_sum_ns[route], (unsigned long long)duration_ns,
                              memory_order_relaxed);
}

void metrics_save(bool created, size_t bytes)
{
    atomic_fetch_add_explicit(created ? &saves_created : &saves_updated, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_stored, bytes, memory_order_relaxed);
}

void metrics_auth_failure(enum auth_result reason)
{
    if ((unsigned)reason < AUTH_RESULT_COUNT)
        atomic_fetch_add_explicit(&auth_failures[reason], 1, memory_order_relaxed);
}

void metrics_cache(bool hit)
{
    atomic_fetch_add_explicit(hit ? &cache_hits : &cache_misses, 1, memory_order_relaxed);
}

void metrics_cache_confirmed(bool by_query)
{
    atomic_fetch_add_explicit(by_query ? &confirmed_by_query : &confirmed_by_watch, 1,
                              memory_order_relaxed);
}

void metrics_connection_opened(void)
{
    atomic_fetch_add_explicit(&conns_open, 1, memory_order_relaxed);
}

void metrics_connection_closed(void)
{
    atomic_fetch_sub_explicit(&conns_open, 1, memory_order_relaxed);
}

void metrics_connection_refused(bool by_ip)
{
    atomic_fetch_add_explicit(by_ip ? &conns_refused_ip : &conns_refused_total, 1,
                              memory_order_relaxed);
}

void metrics_connection_timeout(bool in_body)
{
    atomic_fetch_add_explicit(in_body ? &conns_body_timeout : &conns_head_timeout, 1,
                              memory_order_relaxed);
}

void metrics_connection_body_cut(void)
{
    atomic_fetch_add_explicit(&conns_body_cut, 1, memory_order_relaxed);
}

static unsigned long long ld(atomic_ullong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

char *metrics_render(long in_flight, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    fputs("# HELP roomstate_http_requests_total HTTP requests by route and status.\n"
          "# TYPE roomstate_http_requests_total counter\n",
          f);
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++)
        for (size_t s = 0; s <= NSTATUS; s++) {
            unsigned long long v = ld(&requests[r][s]);
            if (!v)
                continue;
            if (s < NSTATUS)
                fprintf(f, "roomstate_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                        route_labels[r], statuses[s], v);
            else
                fprintf(f, "roomstate_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                        route_labels[r], v);
        }
    fprintf(f,
            "# HELP roomstate_http_requests_in_flight HTTP requests begun and not yet "
            "completed (this scrape included).\n"
            "# TYPE roomstate_http_requests_in_flight gauge\n"
            "roomstate_http_requests_in_flight %ld\n",
            in_flight);
    fputs("# HELP roomstate_http_request_duration_seconds Time from request line until the "
          "response was sent (counted when the request completes).\n"
          "# TYPE roomstate_http_request_duration_seconds histogram\n",
          f);
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++) {
        uint64_t counts[NBUCKETS], total = 0;
        char label[64];
        for (size_t b = 0; b <= NBUCKETS; b++) {
            uint64_t v = ld(&dur_buckets[r][b]);
            if (b < NBUCKETS)
                counts[b] = v;
            total += v;
        }
        snprintf(label, sizeof label, "route=\"%s\"", route_labels[r]);
        prom_histogram(f, "roomstate_http_request_duration_seconds", label, buckets_s, counts,
                       NBUCKETS, total, (double)ld(&dur_sum_ns[r]) / 1e9);
    }
    fprintf(f,
            "# HELP roomstate_saves_total Successful saves (created: a room's first save).\n"
            "# TYPE roomstate_saves_total counter\n"
            "roomstate_saves_total{result=\"created\"} %llu\n"
            "roomstate_saves_total{result=\"updated\"} %llu\n"
            "# HELP roomstate_stored_bytes_total Bytes of room documents stored by saves.\n"
            "# TYPE roomstate_stored_bytes_total counter\n"
            "roomstate_stored_bytes_total %llu\n",
            ld(&saves_created), ld(&saves_updated), ld(&bytes_stored));
    fputs("# HELP roomstate_auth_failures_total Rejected bearer tokens by reason.\n"
          "# TYPE roomstate_auth_failures_total counter\n",
          f);
    for (int i = 1; i < AUTH_RESULT_COUNT; i++)
        fprintf(f, "roomstate_auth_failures_total{reason=\"%s\"} %llu\n",
                auth_result_code((enum auth_result)i), ld(&auth_failures[i]));
    fprintf(f,
            "# HELP roomstate_state_cache_total GET /state bodies served from the cache.\n"
            "# TYPE roomstate_state_cache_total counter\n"
            "roomstate_state_cache_total{result=\"hit\"} %llu\n"
            "roomstate_state_cache_total{result=\"miss\"} %llu\n"
            "# HELP roomstate_state_cache_confirmed_total Cached versions confirmed current "
            "for a GET: by a query, or by the commit watch without one.\n"
            "# TYPE roomstate_state_cache_confirmed_total counter\n"
            "roomstate_state_cache_confirmed_total{by=\"query\"} %llu\n"
            "roomstate_state_cache_confirmed_total{by=\"watch\"} %llu\n",
            ld(&cache_hits), ld(&cache_misses), ld(&confirmed_by_query), ld(&confirmed_by_watch));
    fprintf(f,
            "# HELP roomstate_http_connections_open HTTP connections open now.\n"
            "# TYPE roomstate_http_connections_open gauge\n"
            "roomstate_http_connections_open %lld\n"
            "# HELP roomstate_http_connections_refused_total Connections closed at accept by "
            "a limit (per_ip: --max-connections-per-ip; total: --max-connections).\n"
            "# TYPE roomstate_http_connections_refused_total counter\n"
            "roomstate_http_connections_refused_total{limit=\"per_ip\"} %llu\n"
            "roomstate_http_connections_refused_total{limit=\"total\"} %llu\n"
            "# HELP roomstate_http_connections_closed_total Connections the server closed early "
            "(header_timeout: no complete request head within --header-timeout; body_timeout: no "
            "complete request within --request-timeout; body_cut: an "
            "oversized body went on past --max-discard).\n"
            "# TYPE roomstate_http_connections_closed_total counter\n"
            "roomstate_http_connections_closed_total{reason=\"header_timeout\"} %llu\n"
            "roomstate_http_connections_closed_total{reason=\"body_timeout\"} %llu\n"
            "roomstate_http_connections_closed_total{reason=\"body_cut\"} %llu\n",
            (long long)atomic_load_explicit(&conns_open, memory_order_relaxed),
            ld(&conns_refused_ip), ld(&conns_refused_total), ld(&conns_head_timeout),
            ld(&conns_body_timeout), ld(&conns_body_cut));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
