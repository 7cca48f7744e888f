/* persist.h — the relay's client of the room-state service (docs/relay-protocol.md,
 * "Persistence"): loads a room's saved state when the room is created and posts saves.
 *
 * The event loop never blocks on the server: requests go to a worker thread (blocking
 * libcurl calls with timeouts); finished requests wait in a completion queue that the event
 * loop drains with persist_poll() after the wake callback fired (the transport calls
 * lws_cancel_service() there and polls in LWS_CALLBACK_EVENT_WAIT_CANCELLED).
 * Each call is authenticated with a fresh short-lived service token (svc
 * "roomstate-relay", sub = the user the relay acts for, when given). */
#ifndef ROOMSTATE_RELAY_PERSIST_H
#define ROOMSTATE_RELAY_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERSIST_MAX_PENDING 1024
#define PERSIST_MAX_RESPONSE_BYTES (16u << 20)

struct persist_config {
    const char *server_url;   /* e.g. http://127.0.0.1:8080 (no trailing slash needed) */
    const char *service_key;  /* HS256 key for service tokens */
    const char *service_name; /* svc claim, default "roomstate-relay" */
    long timeout_ms;          /* per request, default 5000 */
};

enum persist_kind {
    PERSIST_LOAD = 0,    /* GET /rooms/{id}/state */
    PERSIST_SAVE,        /* POST /rooms/{id}/save */
    PERSIST_LEASE,       /* POST /rooms/{id}/lease (body) */
    PERSIST_LEASE_FREE,  /* DELETE /rooms/{id}/lease?fence=N */
    PERSIST_CKPT_GET,    /* GET /rooms/{id}/checkpoint */
    PERSIST_CKPT_PUT,    /* PUT /rooms/{id}/checkpoint?fence=N (body) */
    PERSIST_CKPT_DELETE, /* DELETE /rooms/{id}/checkpoint?fence=N */
};

struct persist_result {
    enum persist_kind kind;
    uint64_t tag; /* the caller's tag, returned as given */
    char room_id[129];
    long http_status; /* 0 when the request never got an HTTP answer */
    char *body;       /* malloc'd response body (NUL-terminated), or NULL */
    size_t body_len;
    char error[160];    /* transport error text when http_status is 0 */
    int64_t fence;      /* as submitted (persist_submit) */
    int64_t elapsed_us; /* request start to end */
};

struct persist;

/* Starts the worker.  wake(ud) is called from the worker thread after each completion.
 * Returns NULL on failure (bad config, thread creation). */
struct persist *persist_new(const struct persist_config *cfg, void (*wake)(void *ud), void *ud);
/* Stops the worker after the request in flight (pending ones are dropped) and frees all. */
void persist_free(struct persist *p);

/* Queue a GET /rooms/{room_id}/state.  0, or -1 when the queue is full. */
int persist_submit_load(struct persist *p, const char *room_id, uint64_t tag)
    __attribute__((warn_unused_result));
/* Queue a POST /rooms/{room_id}/save of doc (the callee takes doc, malloc'd, len bytes);
 * acting_user: the user id the save is made for (sub), or NULL.  0, or -1 when full (doc
 * is freed either way). */
int persist_submit_save(struct persist *p, const char *room_id, char *doc_steal, size_t len,
                        const char *acting_user, uint64_t tag) __attribute__((warn_unused_result));

/* Queue any request of kind (fleet calls, relay/fleet.c): fence goes in the query string of
 * PERSIST_LEASE_FREE, PERSIST_CKPT_PUT and PERSIST_CKPT_DELETE; body (malloc'd JSON, len
 * bytes, taken; may be NULL) is sent with PERSIST_LEASE, PERSIST_SAVE and PERSIST_CKPT_PUT.
 * 0, or -1 when the queue is full (body freed either way). */
int persist_submit(struct persist *p, enum persist_kind kind, const char *room_id, int64_t fence,
                   char *body_steal, size_t len, uint64_t tag) __attribute__((warn_unused_result));

/* Takes one finished request into *out (non-blocking).  Returns false when none is ready.
 * The caller releases out with persist_result_clear. */
bool persist_poll(struct persist *p, struct persist_result *out);
void persist_result_clear(struct persist_result *r);

/* Requests queued or in flight. */
size_t persist_pending(struct persist *p);

#endif
