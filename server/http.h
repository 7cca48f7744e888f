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

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct saveq;

/* Settings of the running server; read-only once http_start has been called (except the
 * atomics). */
struct server {
    const char *db_path;
    struct auth_keys keys;
    struct roomdoc_limits limits;
    size_t max_body_bytes;
    int64_t history_keep;
    unsigned threads;
    struct livekit_config livekit; /* POST /livekit/token; unset: 503 */
    struct cache *cache;           /* GET /state bodies by (room, version); NULL: no cache */
    unsigned save_workers;         /* threads running durable saves; 0: on the HTTP threads */
    struct saveq *saveq;           /* started by http_start when save_workers > 0 */
    struct MHD_Daemon *daemon;
    atomic_bool stopping;  /* SIGTERM seen: responses carry Connection: close */
    atomic_long in_flight; /* requests begun and not yet completed */
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
    bool started;     /* the first access-handler call has happened */
    bool queued;      /* a response is queued */
    bool raw_has_nul; /* the raw URI decodes to a NUL byte: never a route */
    bool authed;
    bool wants_body;     /* the handler reads a JSON body */
    bool body_too_large; /* exceeded max_body_bytes while streaming */
    char room_id[HTTP_ROOM_ID_MAX + 1];
    char log_path[HTTP_LOG_PATH_MAX + 1];
    struct auth_identity id;
    char *body; /* malloc'd, body_len bytes (+ NUL), at most max_body_bytes */
    size_t body_len, body_cap;
    size_t discarded; /* bytes of an oversized or unwanted body thrown away */
    json_t *json;     /* the parsed body (JSON_REJECT_DUPLICATES), for body routes */
    bool scan_body;   /* a room document: roomscan_filter is tried before json */
    char *doc;        /* roomscan's stored document (malloc'd) when it decided; json NULL */
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
 * has it).  Returns 0, or -1 (logged). */
int http_start(struct server *srv, const char *host, int port);

/* Graceful stop: stops accepting, waits (at most wait_ms) for requests in flight, then
 * stops the daemon (joining its threads). */
void http_stop(struct server *srv, int wait_ms);

/* The value of request header name, or NULL. */
const char *http_header(struct http_req *r, const char *name);

#endif
