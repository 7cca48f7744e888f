/* ws.h — the relay's transport: one libwebsockets context, one vhost, one protocol that
 * serves both plain HTTP (/healthz, /metrics) and WebSocket rooms (ws://HOST:PORT/rooms/{id}).
 *
 * Contract (docs/relay-protocol.md "Connection"):
 *  - Handshake: GET /rooms/{room_id} with the Nakama session token in
 *    `Authorization: Bearer …` or `?token=…`, checked with common/auth.h.  Refused handshakes
 *    get an HTTP status and a small JSON body {"error": code, "message": text}, checked in
 *    this order: 404 not_found (path is not /rooms/{one segment}), 401 unauthorized (missing
 *    or bad token, service tokens included; WWW-Authenticate: Bearer), 400 bad_room_id
 *    (roomdoc_room_id_valid), 503 shutting_down.  A refused handshake never reaches a room.
 *  - After the handshake the peer joins its room through the rules (relay/room.h), which
 *    may refuse it (room_full) or replace an older connection of the same user; the rules
 *    queue what the peer receives and ask for closes (their codes: 4400 bad_input, 4404
 *    bad_room, 4408 slow_consumer, 4409 replaced, 4429 room_full, 1001 shutdown, 1011
 *    internal).
 *  - Frames: JSON text messages up to max_frame_bytes after reassembly of fragments (the
 *    reassembly buffer never grows past that bound); an oversized message is dropped and
 *    reported to the rules (ERROR too_large).  Binary messages are dropped with an ERROR
 *    {"op":5,"code":"binary_not_supported",...}; after WS_MAX_BINARY of them the peer is
 *    closed with 4400 bad_input.  A text frame that is not UTF-8 is closed with 1007 by
 *    libwebsockets.  Floods and malformed JSON are the rules' to judge.
 *  - A close frame from the peer is a clean leave (the room's cleanup runs at once); a
 *    connection lost without one (TCP reset, ping timeout) keeps its seat for the grace.
 *  - Outgoing frames are written only on LWS_CALLBACK_SERVER_WRITEABLE, one per callback;
 *    close requests are carried out there too, so never during a fan-out loop.
 *  - The relay tick runs on an lws timer (lws_sul) at tick_hz.
 *  - /healthz: 200 {"status":"ok"} (503 {"status":"shutting_down"} while stopping);
 *    /readyz: 200 {"status":"ready","instance":id} (503 {"status":"draining"} while stopping);
 *    /metrics: Prometheus text, totals only (no room or user ids) on this port; the
 *    per-room and per-client series on the separate metrics address (metrics_port).
 *    Other paths: 404; other methods on those paths: 405.
 * Everything runs on one thread (the lws event loop); nothing here blocks. */
#ifndef ROOMSTATE_RELAY_WS_H
#define ROOMSTATE_RELAY_WS_H

#include "common/auth.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define WS_MAX_BINARY 20 /* binary messages before a 4400 close */
#define WS_CTL_MAX 4     /* transport ERROR frames queued per peer */

struct fleet_config;
struct persist_config;
struct relay_config;
struct ws_server;

struct ws_config {
    const char *host; /* listen address, e.g. "127.0.0.1" */
    int port;
    struct auth_keys keys; /* session (and service) keys; the strings outlive the server */
    const struct relay_config *rules;     /* max_frame_bytes, tick_hz, … (frame_headroom is set
                                             here) */
    const struct persist_config *persist; /* NULL: persistence off */
    bool poll_loop;                       /* lws's own poll() loop instead of libev (epoll) */
    /* leading-edge flushes up to this far apart when busy (loadgauge.h) */
    unsigned flush_spacing_ms;
    /* The metrics address (--metrics-listen): /metrics with per-room and per-client series
     * (room ids, user ids) and /healthz; metrics_port 0: none.  The players' port serves
     * /metrics with totals only. */
    const char *metrics_host;
    int metrics_port;
    const struct fleet_config *fleet; /* NULL: no leases, no checkpoints (needs persist) */
    int64_t drain_timeout_ms;         /* shutdown bound, default 10000 */
};

/* Creates the context and binds the listen socket.  NULL (logged) on failure. */
struct ws_server *ws_server_new(const struct ws_config *cfg);

/* Runs the event loop until *stop becomes non-zero, then shuts down gracefully: new
 * handshakes are refused (and /readyz answers 503), every peer is closed with 1001 — with a
 * fleet, each room's final checkpoint is written and its lease released first, and its
 * peers are closed with 1012 "moved" — the loop runs until they are gone (bounded by
 * drain_timeout_ms), and returns 0.  Returns -1 when the loop failed. */
int ws_server_run(struct ws_server *s, volatile sig_atomic_t *stop);

void ws_server_free(struct ws_server *s);

#endif
