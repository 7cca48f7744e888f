/* http.h — the HTTP front of roomstate-server on libmicrohttpd: the route table, the
 * dispatcher that does every generic check of docs/http-api.md in the contract's order
 * (route 404/405, authentication 401, room id 400, content type 415, body size 413, JSON
 * syntax 400), and the per-request context handlers receive.  Handlers (h_*.c) then do
 * document (422) and precondition (412) checks, one call into a module, and reply. */
#ifndef ROOMSTATE_HTTP_H
#define ROOMSTATE_HTTP_H

#include "common/auth.h"
#include "common/livekit.h"
#include "common/roomdoc.h"
#include "server/gate.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct connlimit;
struct saveq;

/* Settings of the running server; read-only once http_start has been called (except the
 * atomics). */
struct store_watch;

struct server {
    const char *db_path;
    struct auth_keys keys;
    struct roomdoc_limits limits;
    size_t max_body_bytes;
    int64_t history_keep;
    unsigned threads;
    struct livekit_config livekit; /* POST /livekit/token; unset: 503 */
    struct cache *cache;           /* GET /state bodies by (room, version); NULL: no cache */
    struct store_watch *watch;     /* commits to the database since a mark; NULL: unknown */
    unsigned save_workers;         /* threads running durable saves; 0: on the HTTP threads */
    int db_lock_wait_ms;           /* a save's bound from its arrival (then 503 Retry-After) */
    struct saveq *saveq;           /* started by http_start when save_workers > 0 */
    size_t checkpoint_max_bytes;   /* PUT /rooms/{id}/checkpoint body limit (h_fleet.c) */
    int64_t checkpoint_ttl_s;      /* a checkpoint's lifetime after its write */
    /* connection limits and the request-head deadline (server/connlimit.h) */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: none */
    unsigned header_timeout_ms;      /* 0: none */
    unsigned request_timeout_ms;     /* the whole request, body included; 0: none */
    size_t max_discard_bytes;        /* an oversized body is read and dropped up to this many
                                      * bytes, then answered 413; past it the connection closes */
    struct connlimit *connlimit;     /* started by http_start */
    struct MHD_Daemon *daemon;
    atomic_bool stopping;         /* SIGTERM seen: responses carry Connection: close */
    atomic_long in_flight;        /* requests begun and not yet completed */
    atomic_long saves_off_thread; /* on the group-commit writer or a save worker */
    atomic_bool saves_closed;     /* http_stop: saves run on the HTTP threads from here */
};

#define HTTP_ROOM_ID_MAX ROOMSCHEMA_ROOM_ID_MAX_BYTES
#define HTTP_LOG_PATH_MAX 200

struct route;
struct http_req;

typedef enum MHD_Result (*http_handler)(struct http_req *r);

/* One request.  Created when the request line arrives, freed when it completed. */
struct http_req {
    struct server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const struct route *route;
    http_handler handler; /* of the matched route and method */
    bool is_head;
    bool started; /* the first access-handler call has happened */
    bool queued;  /* a response is queued */
    bool authed;
    bool wants_body;     /* the handler reads a JSON body */
    bool body_too_large; /* exceeded the route's body limit while streaming */
    bool keep_body;      /* the handler also gets the body's bytes (body, body_len) */
    size_t body_max;     /* the route's body limit: max_body_bytes, or checkpoint_max_bytes */
    char room_id[HTTP_ROOM_ID_MAX + 1];
    char log_path[HTTP_LOG_PATH_MAX + 1];
    struct gate_uri gate; /* what the raw request target told (server/gate.c) */
    struct auth_identity id;
    char *body; /* malloc'd, body_len bytes (+ NUL), at most max_body_bytes */
    size_t body_len, body_cap;
    size_t body_first; /* the first allocation: Content-Length + 1 when given */
    size_t discarded;  /* bytes of an oversized or unwanted body thrown away */
    json_t *json;      /* the parsed body (JSON_REJECT_DUPLICATES), for body routes */
    bool scan_body;    /* a room document: roomscan_filter is tried before json */
    char *doc;         /* roomscan's stored document (malloc'd) when it decided; json NULL */
    size_t doc_len;
    struct roomdoc_stats doc_stats; /* with doc */
    /* A handler that suspended the connection keeps its state here; the library calls it
     * again once resumed (handler_state set).  Freed with handler_state_free. */
    void *handler_state;
    void (*handler_state_free)(void *state);
    int64_t start_ns;
    unsigned status; /* of the queued response */
    size_t bytes;    /* body bytes of the queued response */
};

/* Starts the daemon on host:port with srv->threads worker threads (epoll when the library
 * has it) and the connection limits of srv.  Returns 0, or -1 (logged). */
int http_start(struct server *srv, const char *host, int port);

/* Graceful stop: stops accepting, waits (at most wait_ms) for requests in flight, then
 * stops the daemon (joining its threads). */
void http_stop(struct server *srv, int wait_ms);

/* The value of request header name, or NULL. */
const char *http_header(struct http_req *r, const char *name);

/* Query argument name as a positive integer (1 to 18 digits, no sign, no leading zero, as
 * versions and fences are written): 0 when absent, -1 when anything else. */
int64_t http_query_positive(struct http_req *r, const char *name);

#endif
