/* metrics.h — the server's Prometheus counters: requests by route and status, request
 * duration histogram by route, saves, bytes stored, authentication failures by reason.
 * Lock-free (relaxed atomics); safe from every worker thread. */
#ifndef ROOMSTATE_METRICS_H
#define ROOMSTATE_METRICS_H

#include "common/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_route {
    METRICS_ROUTE_SAVE = 0,
    METRICS_ROUTE_STATE,
    METRICS_ROUTE_VERSIONS,
    METRICS_ROUTE_LIVEKIT,
    METRICS_ROUTE_HEALTHZ,
    METRICS_ROUTE_READYZ,
    METRICS_ROUTE_METRICS,
    METRICS_ROUTE_LEASE,
    METRICS_ROUTE_CHECKPOINT,
    METRICS_ROUTE_OTHER, /* unknown paths */
    METRICS_ROUTE_COUNT
};

/* The route label, e.g. "/rooms/{room_id}/save". */
const char *metrics_route_label(enum metrics_route r);

void metrics_request(enum metrics_route route, unsigned status, int64_t duration_ns);
void metrics_save(bool created, size_t bytes_stored);
void metrics_auth_failure(enum auth_result reason);
void metrics_cache(bool hit);
/* A cached version confirmed current for a GET: by a query of the database, or by the
 * commit watch without one (store_watch.h). */
void metrics_cache_confirmed(bool by_query);

/* Connections (server/connlimit.c, server/http.c): opened and closed (the open gauge),
 * refused at accept (by_ip: the per-IP limit, else the total one), shut down at
 * the request-head or the request (body) deadline, and cut because an oversized body went past the
 * discard bound. */
void metrics_connection_opened(void);
void metrics_connection_closed(void);
void metrics_connection_refused(bool by_ip);
void metrics_connection_timeout(bool in_body);
void metrics_connection_body_cut(void);

/* The whole exposition (text format 0.0.4); malloc'd, *len set; NULL when out of memory.
 * in_flight: requests begun and not completed (the scrape asking counts itself). */
char *metrics_render(long in_flight, size_t *len);

#endif
