/* room_input.c — what a peer sends: frame limits, JSON parsing (one object or an array of
 * at most 64), the per-peer token bucket, and dispatch by op to the control plane
 * (control.c) or the replication plane (repl.c).  Bad input is answered by peer_error
 * (room.c), which rate-limits ERRORs and closes persistent offenders. */
#include "relay/room_int.h"

#include "relay/jspan.h"

#include <math.h>
#include <stdio.h>

#include "opcodes.h"

static bool take_token(struct relay_peer *p, int64_t now_ms)
{
    double rate = p->hub->cfg.in_rate_per_s, burst = 2.0 * rate;
    if (now_ms > p->tokens_ms) {
        p->tokens += rate * (double)(now_ms - p->tokens_ms) / 1000.0;
        if (p->tokens > burst)
            p->tokens = burst;
        p->tokens_ms = now_ms;
    }
    if (p->tokens < 1.0)
        return false;
    p->tokens -= 1.0;
    return true;
}

static void handle_one(struct relay_peer *p, json_t *msg, int64_t now_ms)
{
    struct relay_room *room = p->room;
    json_t *jop = json_object_get(msg, "op");
    int op = json_is_integer(jop) ? (int)json_integer_value(jop) : -1;
    if (json_is_integer(jop) && (json_integer_value(jop) < 0 || json_integer_value(jop) > 1000))
        op = -1;
    room->counters.msgs_in++;
    p->hub->counters.msgs_in++;
    p->stats.msgs_in++;
    counters_op(room->counters.msgs_in_by_op, op, 1);
    counters_op(p->hub->counters.msgs_in_by_op, op, 1);
    if (!take_token(p, now_ms)) {
        peer_error(p, "rate", "too many messages: slow down", op > 0 ? op : 0, RELAY_DROP_RATE);
        return;
    }
    if (!json_is_object(msg)) {
        peer_error(p, "malformed", "every message must be a JSON object", 0, RELAY_DROP_MALFORMED);
        return;
    }
    if (!json_is_integer(jop)) {
        peer_error(p, "malformed", "\"op\" must be an integer", 0, RELAY_DROP_MALFORMED);
        return;
    }
    switch (op) {
    case OP_OWNERSHIP_REQUEST:
    case OP_OWNERSHIP_RELEASED:
    case OP_OBJECT_SPAWN:
    case OP_OBJECT_DESPAWN:
    case OP_OBJECT_PERSIST:
    case OP_MANIFEST_REGISTER:
    case OP_SNAPSHOT_REQUEST:
    case OP_SAVE_REQUEST:
        control_handle(p, op, msg, now_ms);
        break;
    case OP_REP_TRANSFORM:
    case OP_REP_OBJECT:
    case OP_REP_PROPERTY:
        repl_handle(p, op, msg, now_ms);
        if (op == OP_REP_TRANSFORM)
            flush_note(p);
        break;
    default: {
        char text[96];
        snprintf(text, sizeof text,
                 relay_op_name(op) ? "op %d is sent by the relay only" : "unknown op %d", op);
        peer_error(p, "unknown_op", text, op > 0 ? op : 0, RELAY_DROP_UNKNOWN_OP);
    }
    }
}

/* After JSON_DECODE_INT_AS_REAL: reals with an integral value of magnitude below 2^53
 * become integers again (the depth is bounded by jansson's own parse limit). */
static void integers_back(json_t *v, int depth)
{
    if (depth > 2048)
        return;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            double d = json_is_real(x) ? json_real_value(x) : 0.5;
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                json_array_set_new(v, i, json_integer((json_int_t)d));
            else
                integers_back(x, depth + 1);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            double d = json_is_real(x) ? json_real_value(x) : 0.5;
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                json_object_set_new(v, k, json_integer((json_int_t)d));
            else
                integers_back(x, depth + 1);
        }
    }
}

void relay_peer_handle(struct relay_peer *p, const char *frame, size_t len, int64_t now_ms)
{
    if (!p || !p->room || p->close_requested)
        return;
    p->hub->now_ms = now_ms;
    struct relay_room *room = p->room;
    room->counters.frames_in++;
    room->counters.bytes_in += len;
    p->hub->counters.frames_in++;
    p->hub->counters.bytes_in += len;
    p->stats.bytes_in += len;
    if (p->welcome_pending || room->frozen) {
        peer_drop(p, RELAY_DROP_NOT_READY);
        return;
    }
    if (len > p->hub->cfg.max_frame_bytes) {
        peer_error(p, "too_large", "message over the frame limit", 0, RELAY_DROP_TOO_LARGE);
        return;
    }
    struct fastpath_transform ft;
    if (p->seat && p->from_field_len && fastpath_scan_transform(frame, len, &ft)) {
        /* a well-formed player transform: handle_one's work without a JSON tree */
        room->counters.msgs_in++;
        p->hub->counters.msgs_in++;
        p->stats.msgs_in++;
        counters_op(room->counters.msgs_in_by_op, OP_REP_TRANSFORM, 1);
        counters_op(p->hub->counters.msgs_in_by_op, OP_REP_TRANSFORM, 1);
        if (!take_token(p, now_ms)) {
            peer_error(p, "rate", "too many messages: slow down", OP_REP_TRANSFORM,
                       RELAY_DROP_RATE);
            return;
        }
        p->raw = frame;
        p->raw_len = len;
        fastpath_transform(p, &ft, now_ms);
        p->raw = NULL;
        p->raw_len = 0;
        flush_note(p);
        return;
    }
    json_error_t jerr;
    json_t *v = json_loadb(frame, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v && json_error_code(&jerr) == json_error_numeric_overflow) {
        /* an integer beyond int64 (valid JSON, e.g. a property value or t): read numbers as
         * reals, then integral ones within 2^53 back as integers for the checks; what is
         * relayed is the sender's text anyway */
        v = json_loadb(frame, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
        if (v)
            integers_back(v, 0);
    }
    if (!v) {
        char text[200];
        snprintf(text, sizeof text, "invalid JSON at %d: %.120s", jerr.position, jerr.text);
        peer_error(p, "malformed", text, 0, RELAY_DROP_MALFORMED);
        return;
    }
    if (json_is_array(v)) {
        if (json_array_size(v) > MAX_BATCH_IN) {
            peer_error(p, "too_large", "at most 64 messages per frame", 0, RELAY_DROP_TOO_LARGE);
        } else {
            /* each element's own text, so that relayed fields go out as sent */
            struct jspan el[MAX_BATCH_IN];
            int nel = jspan_array(frame, len, el, MAX_BATCH_IN);
            bool spans = nel >= 0 && (size_t)nel == json_array_size(v);
            size_t i;
            json_t *m;
            json_array_foreach(v, i, m)
            {
                if (!p->room || p->close_requested)
                    break;
                p->raw = spans ? el[i].p : NULL;
                p->raw_len = spans ? el[i].n : 0;
                handle_one(p, m, now_ms);
            }
            p->raw = NULL;
            p->raw_len = 0;
        }
    } else {
        p->raw = frame;
        p->raw_len = len;
        handle_one(p, v, now_ms);
        p->raw = NULL;
        p->raw_len = 0;
    }
    json_decref(v);
}

void relay_peer_too_large(struct relay_peer *p, int64_t now_ms)
{
    if (!p || !p->room || p->close_requested)
        return;
    p->hub->now_ms = now_ms;
    peer_error(p, "too_large", "message over the frame limit", 0, RELAY_DROP_TOO_LARGE);
}
