/* reply.c — builds and queues every response of roomstate-server (see reply.h). */
#include "server/reply.h"

#include "common/log.h"
#include "server/dbpool.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    unsigned status;
    const char *code;
    const char *title;
} errors[] = {
#define ERR(name, status, code, title) {status, code, title},
#include "server/errors.def"
#undef ERR
};

unsigned reply_error_status(enum reply_error e)
{
    return (unsigned)e < REPLY_ERROR_COUNT ? errors[e].status : 500;
}

const char *reply_error_code(enum reply_error e)
{
    return (unsigned)e < REPLY_ERROR_COUNT ? errors[e].code : "internal";
}

const char *reply_error_title(enum reply_error e)
{
    return (unsigned)e < REPLY_ERROR_COUNT ? errors[e].title : "Internal Server Error";
}

/* Adds headers, records status and size, queues, and drops our reference. */
static enum MHD_Result queue(struct http_req *r, unsigned status, struct MHD_Response *resp,
                             const char *content_type, size_t len, const char *const *headers)
{
    enum MHD_Result ret = MHD_NO;
    if (!resp) {
        log_error("out of memory building a %u response", status);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    r->bytes = len;
    ret = MHD_queue_response(r->conn, status, resp);
    if (ret == MHD_YES)
        r->queued = true;
    else
        log_debug("could not queue a %u response", status);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result reply_take(struct http_req *r, unsigned status, const char *content_type,
                           char *bytes, size_t len, const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, bytes, free);
    if (!resp)
        free(bytes);
    return queue(r, status, resp, content_type, len, headers);
}

enum MHD_Result reply_shared(struct http_req *r, unsigned status, const char *content_type,
                             const char *bytes, size_t len, void (*release)(void *cls), void *cls,
                             const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)bytes, release, cls);
    if (!resp)
        release(cls);
    return queue(r, status, resp, content_type, len, headers);
}

enum MHD_Result reply_empty(struct http_req *r, unsigned status, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    return queue(r, status, resp, NULL, 0, headers);
}

enum MHD_Result reply_json(struct http_req *r, unsigned status, json_t *body,
                           const char *const *headers)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s)
        return reply_problem(r, REPLY_INTERNAL, "could not encode the response", NULL, NULL);
    return reply_take(r, status, "application/json", s, strlen(s), headers);
}

enum MHD_Result reply_problem(struct http_req *r, enum reply_error e, const char *detail,
                              json_t *extra, const char *const *headers)
{
    static const char fallback[] =
        "{\"type\":\"" REPLY_PROBLEM_BASE "internal\",\"title\":\"Internal Server Error\","
        "\"status\":500,\"detail\":\"out of memory\"}";
    char type[96];
    unsigned status = reply_error_status(e);
    snprintf(type, sizeof type, "%s%s", REPLY_PROBLEM_BASE, reply_error_code(e));
    json_t *doc = json_pack("{s:s, s:s, s:i}", "type", type, "title", reply_error_title(e),
                            "status", (json_int_t)status);
    if (doc && detail)
        json_object_set_new(doc, "detail", json_string(detail));
    if (doc && extra)
        json_object_update_missing(doc, extra);
    json_decref(extra);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof fallback - 1, (void *)fallback, MHD_RESPMEM_PERSISTENT);
        return queue(r, 500, resp, "application/problem+json", sizeof fallback - 1, NULL);
    }
    return reply_take(r, status, "application/problem+json", s, strlen(s), headers);
}

enum MHD_Result reply_store_failure(struct http_req *r, enum store_status st)
{
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    static const char *const retry_full[] = {MHD_HTTP_HEADER_RETRY_AFTER, "30", NULL};
    switch (st) {
    case STORE_SCHEMA_NOT_CURRENT:
        return reply_problem(r, REPLY_NOT_READY, "the database schema is not current", NULL, retry);
    case STORE_BUSY:
        return reply_problem(r, REPLY_SERVICE_UNAVAILABLE,
                             "the database is busy or unavailable, retry", NULL, retry);
    case STORE_FULL: /* RFC 4918 section 11.5; temporary: nothing was stored, retry later */
        return reply_problem(r, REPLY_INSUFFICIENT_STORAGE,
                             "the server's disk is full: nothing was stored, retry later", NULL,
                             retry_full);
    default:
        log_error("store error for room %s: %s", r->room_id, store_status_name(st));
        return reply_problem(r, REPLY_INTERNAL, "storage error", NULL, NULL);
    }
}

enum MHD_Result reply_no_database(struct http_req *r)
{
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    return reply_problem(r, REPLY_NOT_READY, "the database is not available", NULL, retry);
}

enum MHD_Result reply_with_store(struct http_req *r,
                                 enum MHD_Result (*fn)(struct http_req *r, struct store *s))
{
    struct store *s = NULL;
    if (dbpool_get(&s) != STORE_OK)
        return reply_no_database(r);
    enum MHD_Result ret = fn(r, s);
    dbpool_put(s);
    return ret;
}
