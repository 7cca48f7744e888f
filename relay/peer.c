/* peer.c — the rules' output side (peer.h): peer handles, their frame queues and close
 * requests, broadcasts, ERROR replies with strikes, and the counters they feed.  Calls nothing
 * in the rules files above it. */
#include "relay/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "opcodes.h"
#include "relay/jsonenc.h"

/* ---- counters ---- */
void counters_op(uint64_t *by_op, int op, uint64_t n)
{
    by_op[op > 0 && op < RELAY_COUNTED_OPS ? op : 0] += n;
}

void counters_out(struct relay_room *room, const struct relay_msg *m, size_t copies)
{
    struct relay_counters *cs[2] = {&room->counters, &room->hub->counters};
    for (int i = 0; i < 2; i++) {
        cs[i]->frames_out += copies;
        cs[i]->bytes_out += m->len * copies;
        cs[i]->msgs_out += (uint64_t)m->nmsgs * copies;
        if (m->op)
            counters_op(cs[i]->msgs_out_by_op, m->op, copies);
    }
}

void counters_drop(struct relay_room *room, enum relay_drop d)
{
    if (room)
        room->counters.drops[d]++;
}

void peer_drop(struct relay_peer *p, enum relay_drop d)
{
    p->hub->counters.drops[d]++;
    p->stats.drops[d]++;
    counters_drop(p->room, d);
}

/* ---- peers and output ---- */
static void signal_ready(struct relay_peer *p)
{
    if (p->hub->hooks.peer_ready)
        p->hub->hooks.peer_ready(p->hub->hooks_ctx, p->ctx);
}

void peer_request_close(struct relay_peer *p, int code, const char *reason)
{
    if (p->close_requested)
        return;
    p->close_requested = true;
    p->close_code = code;
    p->close_reason = reason;
    if (code == RELAY_CLOSE_SLOW) /* a slow consumer is not fed its backlog first */
        outbox_clear(&p->out);
    if (p->hub->hooks.peer_closing)
        p->hub->hooks.peer_closing(p->hub->hooks_ctx, p->ctx, code, reason);
    signal_ready(p);
}

/* Pushes one frame; no pending flush.  Used by peer_send and repl.c's batches. */
static void push_frame(struct relay_peer *p, struct relay_msg *m)
{
    if (p->close_requested)
        return;
    bool was_empty = p->out.frames == 0;
    if (outbox_push(&p->out, m) != 0) {
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
        return;
    }
    if (p->room)
        counters_out(p->room, m, 1);
    p->stats.frames_out++;
    p->stats.bytes_out += m->len;
    p->stats.msgs_out += m->nmsgs;
    if (p->out.bytes > p->hub->cfg.outbox_max_bytes) {
        log_info("relay: peer %s in room %s is too far behind (%zu bytes queued): closing",
                 p->user_id, p->room ? p->room->id : "-", p->out.bytes);
        peer_request_close(p, RELAY_CLOSE_SLOW, "slow_consumer");
        return;
    }
    if (was_empty)
        signal_ready(p);
}

void peer_push_frame(struct relay_peer *p, struct relay_msg *m)
{
    push_frame(p, m);
}

void peer_send(struct relay_peer *p, struct relay_msg *m)
{
    if (p->pending.count)
        peer_flush_pending(p);
    push_frame(p, m);
}

void room_broadcast(struct relay_room *room, json_t *v, bool object_plane,
                    const struct relay_peer *except, const struct relay_peer *self,
                    int64_t origin_ms)
{
    if (!v)
        return;
    int op = (int)json_integer_value(json_object_get(v, "op"));
    struct relay_msg *m = relay_msg_from_json(&room->hub->pool, op, v, origin_ms);
    json_decref(v);
    if (!m) {
        log_error("relay: out of memory encoding op %d for room %s", op, room->id);
        return;
    }
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *p = room->seats[i]->conn;
        if (!p || p == except || p->welcome_pending)
            continue;
        if (object_plane && !p->synced && p != self)
            continue;
        peer_send(p, m);
    }
    relay_msg_unref(m);
}

void peer_send_json(struct relay_peer *p, json_t *v)
{
    if (!v)
        return;
    int op = (int)json_integer_value(json_object_get(v, "op"));
    struct relay_msg *m = relay_msg_from_json(&p->hub->pool, op, v, 0);
    json_decref(v);
    if (m)
        peer_send(p, m);
    else
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
    relay_msg_unref(m);
}

void peer_error(struct relay_peer *p, const char *code, const char *message, int cause_op,
                enum relay_drop drop)
{
    struct relay_config *cfg = &p->hub->cfg;
    int64_t now = p->hub->now_ms;
    peer_drop(p, drop);
    if (now - p->strike_window_start_ms >= cfg->strike_window_ms) {
        p->strike_window_start_ms = now;
        p->strikes = 0;
    }
    if (++p->strikes >= cfg->strikes_max) {
        log_info("relay: peer %s sent too much bad input: closing", p->user_id);
        peer_request_close(p, RELAY_CLOSE_BAD_INPUT, "bad_input");
        return;
    }
    if (now - p->error_window_start_ms >= 1000) {
        p->error_window_start_ms = now;
        p->errors_this_s = 0;
    }
    if (p->errors_this_s++ >= cfg->errors_per_s)
        return;
    peer_send_json(p, json_pack("{sissssso}", "op", OP_ERROR, "code", code, "message", message,
                                "cause_op", cause_op > 0 ? json_integer(cause_op) : json_null()));
}

/* ---- peer handles ---- */
struct relay_peer *peer_new(struct relay_hub *hub, const char *user_id, void *ctx, int64_t now_ms)
{
    struct relay_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->hub = hub;
    p->ctx = ctx;
    snprintf(p->user_id, sizeof p->user_id, "%s", user_id ? user_id : "");
    uint64_t x = hub->session_salt + (++hub->next_session) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    p->session = x ^ (x >> 29);
    json_t *uid = json_string(p->user_id);
    size_t n = uid ? jsonenc_dump(uid, p->from_field + 7, sizeof p->from_field - 8) : 0;
    json_decref(uid);
    if (n > 0 && n <= sizeof p->from_field - 8) {
        memcpy(p->from_field, "\"from\":", 7);
        p->from_field[7 + n] = ',';
        p->from_field_len = 8 + n;
    }
    outbox_init(&p->out);
    msgvec_init(&p->pending);
    p->next = hub->peers_head;
    if (hub->peers_head)
        hub->peers_head->prev = p;
    hub->peers_head = p;
    p->tokens = 2.0 * hub->cfg.in_rate_per_s;
    p->tokens_ms = now_ms;
    p->strike_window_start_ms = now_ms;
    p->error_window_start_ms = now_ms;
    return p;
}

void peer_free(struct relay_peer *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->hub->peers_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    outbox_clear(&p->out);
    msgvec_clear(&p->pending);
    snapshot_unref(p->snap);
    free(p);
}

/* ---- batches ---- */
static void count_ops_out(struct relay_room *room, struct relay_msg *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        counters_op(room->counters.msgs_out_by_op, msgs[i]->op, 1);
        counters_op(room->hub->counters.msgs_out_by_op, msgs[i]->op, 1);
    }
}

void peer_push_batches(struct relay_peer *p, struct relay_msg *const *msgs, size_t n)
{
    size_t limit = p->hub->cfg.max_out_frame_bytes, start = 0, bytes = 2;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || (i > start && bytes + msgs[i]->len + 1 > limit)) {
            struct relay_msg *f = relay_msg_join(&p->hub->pool, msgs + start, i - start);
            if (!f) {
                peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
                return;
            }
            if (p->room)
                count_ops_out(p->room, msgs + start, i - start);
            peer_push_frame(p, f);
            relay_msg_unref(f);
            start = i;
            bytes = 2;
        }
        if (i < n)
            bytes += msgs[i]->len + 1;
    }
}

void peer_flush_pending(struct relay_peer *p)
{
    if (p->pending.count == 0)
        return;
    struct msgvec v = p->pending;
    msgvec_init(&p->pending);
    peer_push_batches(p, v.items, v.count);
    msgvec_clear(&v);
}

/* ---- output ---- */
enum relay_out relay_peer_next(struct relay_peer *p, struct relay_frame *out)
{
    memset(out, 0, sizeof *out);
    struct relay_msg *m = outbox_peek(&p->out);
    if (m) {
        out->bytes = relay_msg_bytes(m);
        out->len = m->len;
        out->origin_ms = m->origin_ms;
        out->msgs = m->nmsgs;
        return RELAY_OUT_FRAME;
    }
    if (p->close_requested) {
        out->close_code = p->close_code;
        out->close_reason = p->close_reason;
        return RELAY_OUT_CLOSE;
    }
    return RELAY_OUT_NONE;
}

void relay_peer_pop(struct relay_peer *p)
{
    outbox_pop(&p->out);
}

/* ---- accessors ---- */
void *relay_peer_ctx(const struct relay_peer *p)
{
    return p->ctx;
}

const char *relay_peer_user_id(const struct relay_peer *p)
{
    return p->user_id;
}

struct relay_room *relay_peer_room(const struct relay_peer *p)
{
    return p->room;
}

const struct relay_peer_stats *relay_peer_stats(const struct relay_peer *p)
{
    return &p->stats;
}

size_t relay_peer_queued_bytes(const struct relay_peer *p)
{
    return p->out.bytes;
}
