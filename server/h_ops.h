/* h_ops.h — operations endpoints, no token needed: GET /healthz (the process serves),
 * GET /readyz (the database is open and its schema current, else 503), GET /metrics
 * (Prometheus text format 0.0.4). */
#ifndef ROOMSTATE_H_OPS_H
#define ROOMSTATE_H_OPS_H

#include "server/http.h"

enum MHD_Result h_healthz_get(struct http_req *r);
enum MHD_Result h_readyz_get(struct http_req *r);
enum MHD_Result h_metrics_get(struct http_req *r);

#endif
