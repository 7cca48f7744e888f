/* h_fleet.c — leases and live checkpoints of the relay fleet (see h_fleet.h).  The rules
 * live in store/fleet.c; these check the request, make one store call and reply. */
#include "server/h_fleet.h"

#include "common/clock.h"
#include "common/log.h"
#include "server/reply.h"
#include "store/fleet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result reply_lost(struct http_req *r, int64_t fence)
{
    char detail[320];
    snprintf(detail, sizeof detail,
             "fence %" PRId64 " is not the current lease of room '%s' (taken over or released)",
             fence, r->room_id);
    return reply_problem(r, REPLY_LEASE_LOST, detail, NULL, NULL);
}

/* A 400 naming one member of the request and what is wrong with it. */
static enum MHD_Result reply_bad(struct http_req *r, const char *path, const char *message)
{
    json_t *errs = json_pack("{s:[{s:s, s:s}]}", "errors", "path", path, "message", message);
    return reply_problem(r, REPLY_BAD_REQUEST, message, errs, NULL);
}

/* ?fence=N, a positive integer; 0 when absent or malformed. */
static int64_t fence_arg(struct http_req *r)
{
    int64_t n = http_query_positive(r, "fence");
    return n > 0 ? n : 0;
}

static bool holder_ok(const char *h, size_t len)
{
    if (len < 1 || len > STORE_LEASE_HOLDER_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e)
            return false;
    return true;
}

/* ---- leases ---------------------------------------------------------------------------- */

/* The lease request in r->json; false when it is not one (then *ret is the queued 400). */
static bool lease_req_of(struct http_req *r, struct store_lease_req *req, enum MHD_Result *ret)
{
    json_t *b = r->json;
    memset(req, 0, sizeof *req);
    req->room_id = r->room_id;
    if (!json_is_object(b)) {
        *ret = reply_bad(r, "", "the body must be a JSON object {holder, ttl_ms[, fence]}");
        return false;
    }
    json_t *h = json_object_get(b, "holder"), *t = json_object_get(b, "ttl_ms"),
           *f = json_object_get(b, "fence");
    if (!json_is_string(h) || !holder_ok(json_string_value(h), json_string_length(h))) {
        *ret = reply_bad(r, "holder",
                         "holder must be a string of 1 to 128 printable ASCII characters");
        return false;
    }
    if (!json_is_integer(t) || json_integer_value(t) < STORE_LEASE_TTL_MIN_MS ||
        json_integer_value(t) > STORE_LEASE_TTL_MAX_MS) {
        *ret = reply_bad(r, "ttl_ms", "ttl_ms must be an integer from 1000 to 60000");
        return false;
    }
    if (f && (!json_is_integer(f) || json_integer_value(f) < 1)) {
        *ret = reply_bad(r, "fence", "fence, when given, must be a positive integer");
        return false;
    }
    req->holder = json_string_value(h);
    req->ttl_ms = json_integer_value(t);
    req->fence = f ? json_integer_value(f) : 0;
    return true;
}

static enum MHD_Result lease_post(struct http_req *r, struct store *s)
{
    struct store_lease_req req;
    struct store_lease_result res;
    char detail[256];
    enum MHD_Result bad = MHD_NO;
    if (!lease_req_of(r, &req, &bad))
        return bad;
    enum store_status st = store_lease_acquire(s, &req, clock_wall_ms(), &res);
    if (st != STORE_OK)
        return reply_store_failure(r, st);
    switch (res.outcome) {
    case STORE_LEASE_OK:
        return reply_json(r, MHD_HTTP_OK,
                          json_pack("{s:s, s:s, s:I, s:I, s:I}", "room_id", r->room_id, "holder",
                                    res.holder, "fence", (json_int_t)res.fence, "ttl_ms",
                                    (json_int_t)req.ttl_ms, "expires_in_ms",
                                    (json_int_t)res.expires_in_ms),
                          NULL);
    case STORE_LEASE_HELD:
        snprintf(detail, sizeof detail, "room '%s' is hosted by another relay", r->room_id);
        return reply_problem(r, REPLY_LEASE_HELD, detail,
                             json_pack("{s:s, s:I}", "holder", res.holder, "expires_in_ms",
                                       (json_int_t)res.expires_in_ms),
                             NULL);
    default:
        return reply_lost(r, req.fence);
    }
}

static enum MHD_Result lease_get(struct http_req *r, struct store *s)
{
    struct store_lease_result res;
    char detail[256];
    enum store_status st = store_lease_get(s, r->room_id, clock_wall_ms(), &res);
    if (st == STORE_NOT_FOUND) {
        snprintf(detail, sizeof detail, "room '%s' has no unexpired lease", r->room_id);
        return reply_problem(r, REPLY_NOT_FOUND, detail, NULL, NULL);
    }
    if (st != STORE_OK)
        return reply_store_failure(r, st);
    return reply_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:s, s:I, s:I}", "room_id", r->room_id, "holder", res.holder,
                                "fence", (json_int_t)res.fence, "expires_in_ms",
                                (json_int_t)res.expires_in_ms),
                      NULL);
}

/* A fenced DELETE (release a lease, delete a checkpoint): 204, 409 lease-lost, or 404. */
static enum MHD_Result fenced_delete(struct http_req *r, struct store *s,
                                     enum store_status (*del)(struct store *, const char *, int64_t,
                                                              int64_t, enum store_lease_outcome *),
                                     const char *what)
{
    enum store_lease_outcome out;
    char detail[256];
    int64_t fence = fence_arg(r);
    if (fence < 1)
        return reply_bad(r, "fence", "?fence= must name the lease's fence (a positive integer)");
    enum store_status st = del(s, r->room_id, fence, clock_wall_ms(), &out);
    if (st != STORE_OK)
        return reply_store_failure(r, st);
    if (out == STORE_LEASE_OK)
        return reply_empty(r, MHD_HTTP_NO_CONTENT, NULL);
    if (out == STORE_LEASE_LOST)
        return reply_lost(r, fence);
    snprintf(detail, sizeof detail, "room '%s' has no %s", r->room_id, what);
    return reply_problem(r, REPLY_NOT_FOUND, detail, NULL, NULL);
}

static enum MHD_Result lease_delete(struct http_req *r, struct store *s)
{
    return fenced_delete(r, s, store_lease_release, "lease");
}

/* ---- checkpoints ----------------------------------------------------------------------- */

static enum MHD_Result ckpt_put(struct http_req *r, struct store *s)
{
    struct store_ckpt res;
    char at[CLOCK_RFC3339_LEN];
    int64_t fence = fence_arg(r);
    if (fence < 1)
        return reply_bad(r, "fence", "?fence= must name the lease's fence (a positive integer)");
    if (!json_is_object(r->json) || !r->body)
        return reply_bad(r, "", "a checkpoint must be a JSON object");
    r->body[r->body_len] = '\0'; /* on_upload keeps a byte free after the body */
    struct store_ckpt_req req = {.room_id = r->room_id,
                                 .fence = fence,
                                 .doc = r->body,
                                 .doc_len = r->body_len,
                                 .ttl_ms = r->srv->checkpoint_ttl_s * 1000};
    enum store_status st = store_ckpt_put(s, &req, clock_wall_ms(), &res);
    if (st != STORE_OK)
        return reply_store_failure(r, st);
    if (res.outcome != STORE_LEASE_OK)
        return reply_lost(r, fence);
    clock_rfc3339(res.checkpointed_at_ms, at);
    json_t *sv = res.saved_version >= 0 ? json_integer(res.saved_version) : json_null();
    return reply_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:I, s:s, s:I, s:I, s:o}", "room_id", r->room_id, "fence",
                                (json_int_t)res.fence, "checkpointed_at", at, "bytes",
                                (json_int_t)res.bytes, "expires_in_ms",
                                (json_int_t)res.expires_in_ms, "saved_version", sv),
                      NULL);
}

/* {"room_id",...,"state":<the stored bytes>}: the checkpoint is sent as it was stored. */
static char *ckpt_body(const char *room_id, const struct store_ckpt *c, size_t *len)
{
    char at[CLOCK_RFC3339_LEN];
    clock_rfc3339(c->checkpointed_at_ms, at);
    json_t *sv = c->saved_version >= 0 ? json_integer(c->saved_version) : json_null();
    json_t *meta = json_pack("{s:s, s:I, s:s, s:I, s:o, s:I, s:I}", "room_id", room_id, "fence",
                             (json_int_t)c->fence, "checkpointed_at", at, "checkpointed_at_ms",
                             (json_int_t)c->checkpointed_at_ms, "saved_version", sv, "bytes",
                             (json_int_t)c->bytes, "expires_in_ms", (json_int_t)c->expires_in_ms);
    char *head = meta ? json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *out = NULL;
    json_decref(meta);
    if (!head)
        return NULL;
    size_t hl = strlen(head) - 1; /* without its closing brace */
    static const char key[] = ",\"state\":";
    size_t n = hl + sizeof key - 1 + (size_t)c->bytes + 1;
    out = malloc(n + 1);
    if (out) {
        memcpy(out, head, hl);
        memcpy(out + hl, key, sizeof key - 1);
        memcpy(out + hl + sizeof key - 1, c->doc, (size_t)c->bytes);
        out[n - 1] = '}';
        out[n] = '\0';
        *len = n;
    }
    free(head);
    return out;
}

static enum MHD_Result ckpt_get(struct http_req *r, struct store *s)
{
    struct store_ckpt c;
    char detail[256];
    size_t len = 0;
    enum store_status st = store_ckpt_get(s, r->room_id, clock_wall_ms(), &c);
    if (st == STORE_NOT_FOUND) {
        snprintf(detail, sizeof detail, "room '%s' has no unexpired checkpoint", r->room_id);
        return reply_problem(r, REPLY_NOT_FOUND, detail, NULL, NULL);
    }
    if (st != STORE_OK)
        return reply_store_failure(r, st);
    char *body = ckpt_body(r->room_id, &c, &len);
    store_ckpt_clear(&c);
    if (!body)
        return reply_problem(r, REPLY_INTERNAL, "could not build the checkpoint", NULL, NULL);
    return reply_take(r, MHD_HTTP_OK, "application/json", body, len, NULL);
}

static enum MHD_Result ckpt_delete(struct http_req *r, struct store *s)
{
    return fenced_delete(r, s, store_ckpt_delete, "checkpoint");
}

/* ---- entry points: a connection from the pool around each ------------------------------ */

enum MHD_Result h_lease_post(struct http_req *r)
{
    return reply_with_store(r, lease_post);
}

enum MHD_Result h_lease_get(struct http_req *r)
{
    return reply_with_store(r, lease_get);
}

enum MHD_Result h_lease_delete(struct http_req *r)
{
    return reply_with_store(r, lease_delete);
}

enum MHD_Result h_checkpoint_put(struct http_req *r)
{
    return reply_with_store(r, ckpt_put);
}

enum MHD_Result h_checkpoint_get(struct http_req *r)
{
    return reply_with_store(r, ckpt_get);
}

enum MHD_Result h_checkpoint_delete(struct http_req *r)
{
    return reply_with_store(r, ckpt_delete);
}
