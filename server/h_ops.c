/* h_ops.c — /healthz, /readyz, /metrics (see h_ops.h). */
#include "server/h_ops.h"

#include "server/dbpool.h"
#include "server/metrics.h"
#include "server/reply.h"

enum MHD_Result h_healthz_get(struct http_req *r)
{
    return reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), NULL);
}

enum MHD_Result h_readyz_get(struct http_req *r)
{
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    struct store *s = NULL;
    enum store_status st = dbpool_get(&s);
    if (st != STORE_OK)
        return reply_problem(r, REPLY_NOT_READY,
                             st == STORE_SCHEMA_NOT_CURRENT
                                 ? "the database schema is not current: run roomstate-migrate up"
                                 : "the database cannot be opened",
                             NULL, retry);
    bool ready = store_ready(s);
    dbpool_put(s);
    if (!ready)
        return reply_problem(r, REPLY_NOT_READY, "the database is not ready", NULL, retry);
    return reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"), NULL);
}

enum MHD_Result h_metrics_get(struct http_req *r)
{
    size_t len = 0;
    char *text = metrics_render(atomic_load(&r->srv->in_flight), &len);
    if (!text)
        return reply_problem(r, REPLY_INTERNAL, "out of memory", NULL, NULL);
    return reply_take(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}
