/* flush.c — leading-edge forwarding of player transforms (issue 6 target 4): a
 * REP_TRANSFORM whose sender-stream has a rate-cap token goes out in the next flush (the
 * transport runs one right after the event-loop pass in which it arrived: one batched frame
 * per recipient for whatever arrived in that pass) instead of waiting up to one tick.  The
 * cap is a token bucket per sender-stream: cfg.tick_hz tokens per second, burst
 * FLUSH_BURST; every forward (early or at the tick) takes one, so a stream never goes out
 * faster than cfg.tick_hz over any second (+ the burst), and what arrives faster is still
 * coalesced (latest wins) and goes out at the tick.  A transform sent early is marked as
 * belonging to the previous tick window (tf_tick = tick - 1): the tick does not send it
 * again and a newer one in the same window is not counted as coalesced. */
#include "relay/room_int.h"

#include "common/grow.h"

#include <stdlib.h>

#define FLUSH_BURST 2.0

static void tok_refill(struct seat *s, unsigned hz, int64_t now_ms)
{
    if (!s->tf_tok_init) {
        s->tf_tok_init = true;
        s->tf_tok = FLUSH_BURST;
    } else if (now_ms > s->tf_tok_ms) {
        s->tf_tok += (double)(now_ms - s->tf_tok_ms) * hz / 1000.0;
        if (s->tf_tok > FLUSH_BURST)
            s->tf_tok = FLUSH_BURST;
    }
    s->tf_tok_ms = now_ms;
}

static bool pending(const struct relay_hub *hub, const struct seat *s)
{
    return s->tf_msg && s->tf_tick == hub->tick;
}

void flush_note(struct relay_peer *p)
{
    if (p->room && p->seat && pending(p->hub, p->seat)) {
        p->room->flush_wanted = true;
        p->hub->flush_wanted = true;
    }
}

void flush_tick_room(struct relay_room *room, int64_t now_ms)
{
    struct relay_hub *hub = room->hub;
    for (size_t i = 0; i < room->nseats; i++) {
        struct seat *s = room->seats[i];
        if (!pending(hub, s))
            continue;
        tok_refill(s, hub->cfg.tick_hz, now_ms);
        s->tf_tok -= 1.0; /* the tick forwards it: it counts against the cap */
        if (s->tf_tok < -FLUSH_BURST)
            s->tf_tok = -FLUSH_BURST;
    }
    room->flush_wanted = false;
}

/* Grows hub->scratch to hold at least n messages. */
static int scratch_reserve(struct relay_hub *hub, size_t n)
{
    return grow_array(&hub->scratch, &hub->scratch_cap, n, sizeof *hub->scratch, 64, RELAY_VEC_MAX);
}

static void flush_room(struct relay_room *room, int64_t now_ms)
{
    struct relay_hub *hub = room->hub;
    size_t ready = 0, waiting = 0;
    /* the streams with a token: marked early (tf_early) for this pass */
    for (size_t i = 0; i < room->nseats; i++) {
        struct seat *s = room->seats[i];
        s->tf_early = false;
        if (!pending(hub, s))
            continue;
        tok_refill(s, hub->cfg.tick_hz, now_ms);
        if (s->tf_tok >= 1.0) {
            s->tf_early = true;
            ready++;
        } else {
            waiting++;
        }
    }
    room->flush_wanted = waiting > 0;
    if (!ready)
        return;
    if (scratch_reserve(hub, ready) != 0) {
        room->flush_wanted = true; /* the tick sends them */
        return;
    }
    for (size_t i = 0; i < room->nseats; i++) {
        struct relay_peer *r = room->seats[i]->conn;
        if (!r || r->close_requested || r->welcome_pending)
            continue;
        size_t n = 0;
        for (size_t k = 0; k < room->nseats; k++) {
            struct seat *s = room->seats[k];
            if (s != r->seat && s->tf_early)
                hub->scratch[n++] = s->tf_msg;
        }
        if (!n)
            continue;
        if (r->out.frames >= hub->cfg.outbox_skip_frames) {
            /* backlogged: as at the tick, unreliable data is not queued */
            room->counters.drops[RELAY_DROP_SLOW] += n;
            hub->counters.drops[RELAY_DROP_SLOW] += n;
            r->stats.drops[RELAY_DROP_SLOW] += n;
            continue;
        }
        peer_push_batches(r, hub->scratch, n);
    }
    for (size_t i = 0; i < room->nseats; i++) {
        struct seat *s = room->seats[i];
        if (!s->tf_early)
            continue;
        s->tf_early = false;
        s->tf_tok -= 1.0;
        s->tf_tick = hub->tick - 1; /* sent: not again at the tick, not "coalesced" */
    }
}

bool relay_hub_flush_wanted(const struct relay_hub *hub)
{
    return hub->flush_wanted;
}

void relay_hub_flush(struct relay_hub *hub, int64_t now_ms)
{
    if (!hub->flush_wanted)
        return;
    hub->now_ms = now_ms;
    bool again = false;
    for (struct relay_room *room = hub->rooms_head; room; room = room->next) {
        if (!room->flush_wanted)
            continue;
        flush_room(room, now_ms);
        again |= room->flush_wanted;
    }
    hub->flush_wanted = again;
}
