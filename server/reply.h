/* reply.h — the one place that builds HTTP responses: problem documents (RFC 9457) from
 * the error table server/errors.def, JSON bodies, shared cached bodies and empty replies.
 * Every function queues the response on r's connection, records status and byte count in
 * r (for the request log and metrics) and returns what the access handler returns. */
#ifndef ROOMSTATE_REPLY_H
#define ROOMSTATE_REPLY_H

#include "server/http.h"
#include "store/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

enum reply_error {
#define ERR(name, status, code, title) REPLY_##name,
#include "server/errors.def"
#undef ERR
    REPLY_ERROR_COUNT
};

#define REPLY_PROBLEM_BASE "https://roomstate.dev/problems/"

unsigned reply_error_status(enum reply_error e);
const char *reply_error_code(enum reply_error e);
const char *reply_error_title(enum reply_error e);

/* Extra headers are a NULL-terminated list of name, value pairs (or NULL). */

/* A problem document {"type","title","status","detail"[,"errors"][,extra members]}.
 * extra (may be NULL) is an object whose members are added and is stolen (decref'd). */
enum MHD_Result reply_problem(struct http_req *r, enum reply_error e, const char *detail,
                              json_t *extra, const char *const *headers);

/* A JSON body (application/json); body is stolen (decref'd). */
enum MHD_Result reply_json(struct http_req *r, unsigned status, json_t *body,
                           const char *const *headers);

/* Bytes the caller malloc'd: the response takes them (free()d by the library). */
enum MHD_Result reply_take(struct http_req *r, unsigned status, const char *content_type,
                           char *bytes, size_t len, const char *const *headers);

/* A shared, reference-counted body (e.g. from the cache); the response holds a reference
 * until it is sent.  release(cls) is called once the response is done with it. */
enum MHD_Result reply_shared(struct http_req *r, unsigned status, const char *content_type,
                             const char *bytes, size_t len, void (*release)(void *cls), void *cls,
                             const char *const *headers);

/* The answer to a store failure every handler shares (a dependency, not the request):
 * STORE_SCHEMA_NOT_CURRENT 503 not-ready, STORE_BUSY 503 service-unavailable (both
 * Retry-After: 1), STORE_FULL 507 (Retry-After: 30; nothing was stored), anything else
 * logged and 500.  Statuses with a handler-specific meaning (not found, precondition
 * failed, lease lost) are answered by the handler before it calls this. */
enum MHD_Result reply_store_failure(struct http_req *r, enum store_status st);

/* The answer when no database connection can be had (dbpool_get failed): 503 not-ready,
 * Retry-After: 1. */
enum MHD_Result reply_no_database(struct http_req *r);

/* Runs fn(r, s) with a connection s from the pool (server/dbpool.h), given back after it;
 * answers reply_no_database when none can be had.  The entry point of every handler that
 * reads or writes the store. */
enum MHD_Result reply_with_store(struct http_req *r,
                                 enum MHD_Result (*fn)(struct http_req *r, struct store *s));

/* No body (204, 304). */
enum MHD_Result reply_empty(struct http_req *r, unsigned status, const char *const *headers);

#endif
