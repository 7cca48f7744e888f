/* http.c — the route table and the dispatcher: every generic check of a request, in the
 * contract's order, before a handler (h_*.c) runs.  See http.h. */
#include "server/http.h"

#include "common/clock.h"
#include "common/grow.h"
#include "common/log.h"
#include "common/roomscan.h"
#include "server/authcache.h"
#include "server/connlimit.h"
#include "server/h_fleet.h"
#include "server/h_livekit.h"
#include "server/h_ops.h"
#include "server/h_rooms.h"
#include "server/metrics.h"
#include "server/reply.h"
#include "server/saveq.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct route_method {
    const char *method;
    http_handler fn;
    bool body;    /* reads a JSON body */
    bool roomdoc; /* the body is a room document: the fast path (roomscan) is tried first */
};

struct route {
    const char *prefix; /* the path up to {room_id}, or the whole path */
    const char *suffix; /* after {room_id}; NULL: no room segment */
    enum metrics_route metric;
    bool auth;
    const char *allow;
    struct route_method methods[4];
};

/* The route table.  HEAD is served wherever GET is (the library drops the body). */
static const struct route routes[] = {
    {"/rooms/", "/save", METRICS_ROUTE_SAVE, true, "POST", {{"POST", h_save_post, true, true}}},
    {"/rooms/",
     "/state",
     METRICS_ROUTE_STATE,
     true,
     "GET, HEAD, DELETE",
     {{"GET", h_state_get, false, false}, {"DELETE", h_state_delete, false, false}}},
    {"/rooms/",
     "/versions",
     METRICS_ROUTE_VERSIONS,
     true,
     "GET, HEAD",
     {{"GET", h_versions_get, false, false}}},
    {"/rooms/",
     "/lease",
     METRICS_ROUTE_LEASE,
     true,
     "GET, HEAD, POST, DELETE",
     {{"GET", h_lease_get, false, false},
      {"POST", h_lease_post, true, false},
      {"DELETE", h_lease_delete, false, false}}},
    {"/rooms/",
     "/checkpoint",
     METRICS_ROUTE_CHECKPOINT,
     true,
     "GET, HEAD, PUT, DELETE",
     {{"GET", h_checkpoint_get, false, false},
      {"PUT", h_checkpoint_put, true, false},
      {"DELETE", h_checkpoint_delete, false, false}}},
    {"/livekit/token",
     NULL,
     METRICS_ROUTE_LIVEKIT,
     true,
     "POST",
     {{"POST", h_livekit_post, true, false}}},
    {"/healthz",
     NULL,
     METRICS_ROUTE_HEALTHZ,
     false,
     "GET, HEAD",
     {{"GET", h_healthz_get, false, false}}},
    {"/readyz",
     NULL,
     METRICS_ROUTE_READYZ,
     false,
     "GET, HEAD",
     {{"GET", h_readyz_get, false, false}}},
    {"/metrics",
     NULL,
     METRICS_ROUTE_METRICS,
     false,
     "GET, HEAD",
     {{"GET", h_metrics_get, false, false}}},
};

#define NROUTES (sizeof routes / sizeof routes[0])
#define BODY_INITIAL_CAP (64 * 1024)
/* Per-connection memory of the library (request line, headers, read buffer): the contract
 * accepts a 60 KB header (tests/bad-requests/header-overlong.json).  The library zeroes
 * this pool on every request of a kept-alive connection, so its size is also a
 * per-request cost (a 128 KiB memset, ~60% of a cached GET's instructions; see
 * bench/PERF-HTTP.md). */
#define HTTP_CONN_MEMORY_BYTES (128 * 1024)

const char *http_header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int64_t http_query_positive(struct http_req *r, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;
    int64_t n = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &vlen) != MHD_YES)
        return 0; /* absent; "?name" without a value is present and malformed */
    if (!v || !*v || *v == '0' || strlen(v) > 18)
        return -1;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
    }
    return n;
}

/* Matches the decoded path; the room segment (anything without '/') goes to *room. */
static const struct route *route_match(const char *path, const char **room, size_t *room_len)
{
    for (size_t i = 0; i < NROUTES; i++) {
        const struct route *rt = &routes[i];
        size_t pl = strlen(rt->prefix);
        if (!rt->suffix) {
            if (!strcmp(path, rt->prefix))
                return rt;
            continue;
        }
        if (strncmp(path, rt->prefix, pl) != 0)
            continue;
        const char *seg = path + pl;
        const char *slash = strchr(seg, '/');
        if (!slash || strcmp(slash, rt->suffix) != 0)
            continue;
        *room = seg;
        *room_len = (size_t)(slash - seg);
        return rt;
    }
    return NULL;
}

static const struct route_method *method_match(const struct route *rt, const char *method)
{
    for (size_t i = 0; i < 4 && rt->methods[i].method; i++)
        if (!strcmp(rt->methods[i].method, method))
            return &rt->methods[i];
    return NULL;
}

/* The relay fleet's routes (h_fleet.c) are for service tokens only (a user's token: 403). */
static bool service_only(const struct route *rt)
{
    return rt->metric == METRICS_ROUTE_LEASE || rt->metric == METRICS_ROUTE_CHECKPOINT;
}

/* application/json, optionally with parameters; a charset other than UTF-8 is refused. */
static bool content_type_ok(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    const char *p = ct + sizeof want - 1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    const char *cs = strcasestr(p, "charset=");
    if (!cs)
        return true;
    cs += 8;
    if (*cs == '"')
        cs++;
    return !strncasecmp(cs, "utf-8", 5) &&
           (cs[5] == '\0' || cs[5] == '"' || cs[5] == ';' || cs[5] == ' ');
}

static enum MHD_Result reply_unauthorized(struct http_req *r, enum auth_result ar)
{
    char www[256];
    metrics_auth_failure(ar);
    log_debug("auth failure: %s", auth_result_code(ar));
    /* RFC 6750 §3.1: no error code when the request carries no bearer credentials. */
    if (ar == AUTH_MISSING || ar == AUTH_BAD_SCHEME)
        snprintf(www, sizeof www, "Bearer realm=\"roomstate\"");
    else
        snprintf(www, sizeof www,
                 "Bearer realm=\"roomstate\", error=\"invalid_token\", error_description=\"%s\"",
                 auth_result_message(ar));
    const char *hdrs[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, www, NULL};
    json_t *extra = json_pack("{s:s}", "reason", auth_result_code(ar));
    return reply_problem(r, REPLY_UNAUTHORIZED, auth_result_message(ar), extra, hdrs);
}

/* 413 (RFC 9110 §15.5.14), closing the connection: the rest of an announced body is not
 * read, and after a streamed one the client is better off on a fresh connection. */
static enum MHD_Result reply_too_large(struct http_req *r)
{
    char detail[96];
    const char *hdrs[] = {MHD_HTTP_HEADER_CONNECTION, "close", NULL};
    snprintf(detail, sizeof detail, "the body is over the limit of %zu bytes", r->body_max);
    return reply_problem(r, REPLY_PAYLOAD_TOO_LARGE, detail, NULL, hdrs);
}

/* The first call: headers are in.  Queues an error, or runs a body-less handler, or
 * prepares to receive the body. */
static enum MHD_Result on_headers(struct http_req *r, const char *url, const char *method)
{
    const char *room = NULL;
    size_t room_len = 0;
    char detail[192];
    r->is_head = !strcmp(method, "HEAD");
    const struct route *rt = route_match(url, &room, &room_len);
    if (!rt)
        return reply_problem(r, REPLY_NOT_FOUND, "no resource at this path", NULL, NULL);
    r->route = rt;
    const struct route_method *m = method_match(rt, r->is_head ? "GET" : method);
    if (!m) {
        const char *hdrs[] = {MHD_HTTP_HEADER_ALLOW, rt->allow, NULL};
        snprintf(detail, sizeof detail, "allowed methods: %s", rt->allow);
        return reply_problem(r, REPLY_METHOD_NOT_ALLOWED, detail, NULL, hdrs);
    }
    if (rt->auth) {
        int64_t now_s = clock_wall_ms() / 1000;
        enum auth_result ar = authcache_verify_bearer(
            &r->srv->keys, http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), now_s, &r->id);
        if (ar != AUTH_OK)
            return reply_unauthorized(r, ar);
        r->authed = true;
        if (service_only(rt) && !r->id.is_service)
            return reply_problem(r, REPLY_FORBIDDEN,
                                 "this resource is for services (the relay): a service token is "
                                 "required",
                                 NULL, NULL);
    }
    if (rt->suffix) {
        if (room_len == 0 || room_len > HTTP_ROOM_ID_MAX || !roomdoc_room_id_valid(room, room_len))
            return reply_problem(r, REPLY_BAD_ROOM_ID,
                                 "room ids are 1 to 128 of A-Z a-z 0-9 . _ : - and start with "
                                 "a letter or digit",
                                 NULL, NULL);
        memcpy(r->room_id, room, room_len);
        r->room_id[room_len] = '\0';
    }
    r->handler = m->fn;
    if (!m->body)
        return MHD_YES; /* run once the (unexpected) body, if any, is discarded */
    r->wants_body = true;
    r->scan_body = m->roomdoc;
    r->keep_body = m->fn == h_checkpoint_put; /* a checkpoint is stored as sent */
    r->body_max = rt->metric == METRICS_ROUTE_CHECKPOINT ? r->srv->checkpoint_max_bytes
                                                         : r->srv->max_body_bytes;
    if (!content_type_ok(http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return reply_problem(r, REPLY_UNSUPPORTED_MEDIA_TYPE,
                             "the body must be Content-Type: application/json", NULL, NULL);
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > r->body_max)
            return reply_too_large(r);
        r->body_first = (size_t)n + 1;
    }
    return MHD_YES;
}

/* Takes one piece of the body, never holding more than max_body_bytes. */
static enum MHD_Result on_upload(struct http_req *r, const char *data, size_t size)
{
    size_t max = r->wants_body ? r->body_max : r->srv->max_body_bytes;
    if (!r->wants_body || r->body_too_large) {
        /* The library lets a response be queued only before the body or after all of it,
         * so an unwanted or oversized body is read and dropped, and answered once it has
         * ended.  An endless one is not read for ever: past max_discard_bytes the
         * connection is closed without an answer. */
        r->discarded += size;
        if (r->discarded > r->srv->max_discard_bytes) {
            metrics_connection_body_cut();
            log_info("%s: closing the connection after %zu bytes of a body that is not read "
                     "(--max-discard %zu)",
                     r->log_path, r->discarded, r->srv->max_discard_bytes);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (size > max - r->body_len) {
        r->body_too_large = true;
        r->discarded = r->body_len + size;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return MHD_YES;
    }
    /* + 1: a byte stays free for the scanner's sentinel */
    if (grow_array(&r->body, &r->body_cap, r->body_len + size + 1, 1,
                   r->body_first ? r->body_first : BODY_INITIAL_CAP, max + 1) != 0)
        return MHD_NO;
    memcpy(r->body + r->body_len, data, size);
    r->body_len += size;
    return MHD_YES;
}

/* The last call: the whole body is in. */
static enum MHD_Result on_complete(struct http_req *r)
{
    char detail[320];
    if (r->handler_state) /* resumed after a suspension: the handler finishes */
        return r->handler(r);
    if (r->body_too_large)
        return reply_too_large(r);
    if (r->scan_body) {
        /* valid room documents are checked and stored from their bytes; anything else
         * (every error included) goes the reference way below */
        if (r->body)
            r->body[r->body_len] = '\0'; /* its sentinel: on_upload keeps a byte free */
        enum roomscan_result sr =
            roomscan_filter(r->body ? r->body : "", r->body_len, &r->srv->limits, &r->doc,
                            &r->doc_len, &r->doc_stats);
        if (sr == ROOMSCAN_OK) {
            free(r->body);
            r->body = NULL;
            return r->handler(r);
        }
    }
    if (r->wants_body) {
        json_error_t jerr;
        /* any JSON value parses; one that is not an object is a document error (422) */
        r->json = json_loadb(r->body ? r->body : "", r->body_len,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!r->json) {
            snprintf(detail, sizeof detail, "line %d, column %d: %s", jerr.line, jerr.column,
                     jerr.text);
            json_t *extra =
                json_pack("{s:i, s:i, s:i}", "line", (json_int_t)jerr.line, "column",
                          (json_int_t)jerr.column, "position", (json_int_t)jerr.position);
            return reply_problem(r, REPLY_MALFORMED_JSON, detail, extra, NULL);
        }
        if (!r->keep_body) {
            free(r->body); /* the parsed form is all the handler needs */
            r->body = NULL;
        }
    }
    return r->handler(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_req *r = *con_cls;
    if (!r)
        return MHD_NO; /* out of memory when the request began */
    r->conn = conn;
    r->method = method;
    if (!r->started) {
        r->started = true;
        const char *path = gate_check(r, url, method, version); /* framing: gate.c */
        if (!path)
            return r->queued ? MHD_YES : MHD_NO;
        connlimit_head_received(conn);
        enum MHD_Result ret = on_headers(r, path, method);
        if (ret != MHD_YES || r->queued)
            return ret;
        if (!r->wants_body && !r->handler)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result ret = on_upload(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    connlimit_request_received(conn);
    return on_complete(r);
}

/* The request line arrived: the raw URI (before URL decoding) is seen here only. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct server *srv = cls;
    struct http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = srv;
    r->conn = conn;
    r->start_ns = clock_mono_ns();
    atomic_fetch_add(&srv->in_flight, 1);
    gate_on_uri(&r->gate, uri);
    size_t j = 0;
    for (size_t i = 0; uri[i] && uri[i] != '?'; i++) {
        if (j < HTTP_LOG_PATH_MAX) {
            unsigned char c = (unsigned char)uri[i];
            r->log_path[j++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    r->log_path[j] = '\0';
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct http_req *r = *con_cls;
    connlimit_request_done(conn);
    if (!r)
        return;
    *con_cls = NULL;
    int64_t dur_ns = clock_mono_ns() - r->start_ns;
    enum metrics_route mr = r->route ? r->route->metric : METRICS_ROUTE_OTHER;
    metrics_request(mr, r->status, dur_ns);
    log_info("%.16s %s %u %zu %.3fms user=%s%s%s", r->method ? r->method : "-", r->log_path,
             r->status, r->bytes, (double)dur_ns / 1e6,
             r->authed && r->id.user_id[0] ? r->id.user_id : "-",
             r->id.service[0] ? " service=" : "", r->id.service);
    if (r->handler_state_free)
        r->handler_state_free(r->handler_state);
    json_decref(r->json);
    free(r->doc);
    free(r->body);
    free(r);
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_debug("microhttpd: %s", buf);
}

/* The accept policy: no new connection once stopping (the daemon is not quiesced: in
 * libmicrohttpd 0.9.75 MHD_quiesce_daemon races with its own epoll workers over the listen
 * socket, which aborted or crashed the server about once in thirty shutdowns); otherwise the
 * connection limits decide (connlimit.c). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct server *srv = cls;
    if (atomic_load(&srv->stopping))
        return MHD_NO;
    return connlimit_accept(srv->connlimit, addr, addrlen);
}

int http_start(struct server *srv, const char *host, int port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    int rc = -1;
    snprintf(portstr, sizeof portstr, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        log_error("cannot resolve listen address %s: %s", host, gai_strerror(gai));
        goto out;
    }
    struct connlimit_config clc = {.max_connections = srv->max_connections,
                                   .max_per_ip = srv->max_connections_per_ip,
                                   .header_timeout_ms = srv->header_timeout_ms,
                                   .request_timeout_ms = srv->request_timeout_ms};
    if (!(srv->connlimit = connlimit_new(&clc))) {
        log_error("cannot set up the connection limits (out of memory?)");
        goto out;
    }
    unsigned threads = srv->threads > 1 ? srv->threads : 1;
    unsigned mhd_limit = (srv->max_connections + 1) * threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY_BYTES, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connlimit_notify, srv->connlimit},
        /* connlimit decides; the library's own limit (per worker thread: this divided by
         * the threads) stays out of the way, or it would stop accepting at ~1,020 */
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)mhd_limit, NULL},
        {srv->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)srv->threads,
         NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (srv->save_workers > 0 && !(srv->saveq = saveq_new(srv->save_workers)))
        log_warn("no save workers: saves run on the HTTP threads");
    gate_init();
    srv->daemon = MHD_start_daemon(flags, (uint16_t)port, on_accept, srv, on_access, srv,
                                   MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!srv->daemon) {
        saveq_free(srv->saveq);
        srv->saveq = NULL;
        connlimit_free(srv->connlimit);
        srv->connlimit = NULL;
        log_error("cannot listen on %s:%d (address in use, or not a local address?)", host, port);
        goto out;
    }
    rc = 0;
out:
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

/* Waits in 10 ms steps until *n is 0 or wait_ms have passed (-1: no bound); what is left. */
static long wait_zero(atomic_long *n, int wait_ms)
{
    for (int waited = 0; atomic_load(n) > 0 && (wait_ms < 0 || waited < wait_ms); waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(n);
}

void http_stop(struct server *srv, int wait_ms)
{
    if (!srv->daemon)
        return;
    atomic_store(&srv->stopping, true); /* on_accept refuses new connections from here */
    long left = wait_zero(&srv->in_flight, wait_ms);
    if (left > 0)
        log_warn("stopping with %ld request(s) still in flight", left);
    /* saves still running finish (and resume their connections) while the daemon and the
     * workers are still there; only then can it close connections and free their requests.
     * A save counts itself before it checks saves_closed, so either it sees it closed (and
     * runs on its HTTP thread) or this loop sees it.  Each ends when its commit does, or
     * when the writer refuses it past its deadline. */
    atomic_store(&srv->saves_closed, true);
    wait_zero(&srv->saves_off_thread, -1);
    saveq_free(srv->saveq);
    srv->saveq = NULL;
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    connlimit_free(srv->connlimit);
    srv->connlimit = NULL;
}
