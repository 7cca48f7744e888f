/* fleet.c — leases and live checkpoints for a fleet of relays (see fleet.h). */
#include "relay/fleet.h"

#include "common/log.h"
#include "relay/lease.h"
#include "relay/net_persist.h"
#include "relay/strmap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define FLEET_LEASE_WORKERS 4 /* a slow answer delays a quarter of the renewals, not all */
#define ACQUIRE_ATTEMPTS 5    /* transient failures before a room is refused */
#define HELD_RETRY_MIN_MS 50  /* a held lease is asked for again this long after it ends, */
#define HELD_RETRY_MAX_MS 300 /* or sooner: the holder may release it (drain) */

enum phase {
    PH_ACQUIRING = 0, /* lease asked for (room loading) */
    PH_LOADING,       /* lease held; checkpoint and state being read */
    PH_SERVING,
    PH_DRAINING,  /* final checkpoint written, then the lease released, then 1012 */
    PH_RELEASING, /* room freed the normal way: DELETE checkpoint, then DELETE lease */
    PH_GONE,      /* room gone otherwise: release the lease if held, then forget */
};

struct froom {
    struct froom *prev, *next;
    char id[RELAY_MAX_ROOM_ID + 1];
    enum phase phase;
    uint64_t gen; /* tag of this entry's requests */
    struct lease lease;
    int64_t held_retry_ms; /* PH_ACQUIRING after lease-held: ask again then */
    bool was_held;         /* got lease-held before the grant: a take-over */
    bool reacquire;        /* created again while releasing: acquire once released */
    /* restore */
    bool have_ckpt, have_state;
    long ckpt_status, state_status;
    char *ckpt_body, *state_body;
    size_t ckpt_len, state_len;
    /* checkpoints */
    uint64_t ckpt_changes; /* relay_room_changes() at the last written checkpoint */
    uint64_t put_changes;  /* … at the PUT in flight */
    size_t put_bytes;
    unsigned puts_in_flight;
    bool force_ckpt;
    int64_t next_ckpt_ms;
    bool free_in_flight; /* DELETE lease sent */
    bool del_in_flight;  /* DELETE checkpoint sent */
};

struct fleet {
    char instance[FLEET_INSTANCE_MAX + 1];
    int64_t ttl_ms, interval_ms;
    struct net_persist *np;
    struct persist *lw[FLEET_LEASE_WORKERS]; /* lease workers, a room always on the same */
    struct strmap rooms;
    struct froom *head;
    uint64_t next_gen;
    bool draining;
    bool unsupported; /* the server has no lease endpoint: rooms are hosted as before */
    int64_t due_ms;   /* earliest lease validity end (fleet_tick_due) */
    struct fleet_stats st;
};

static void make_instance(char *dst, size_t size)
{
    char host[64] = "relay";
    unsigned char rnd[6] = {0};
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "relay");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '_';
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memset(rnd, 0x5a, sizeof rnd);
    snprintf(dst, size, "%s-%ld-%02x%02x%02x%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
}

struct fleet *fleet_new(const struct fleet_config *cfg, struct net_persist *np,
                        void (*wake)(void *ud), void *ud)
{
    struct fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (cfg->instance_id && *cfg->instance_id)
        snprintf(f->instance, sizeof f->instance, "%s", cfg->instance_id);
    else
        make_instance(f->instance, sizeof f->instance);
    f->ttl_ms = cfg->lease_ttl_ms;
    f->interval_ms = cfg->checkpoint_interval_ms < 100 ? 100 : cfg->checkpoint_interval_ms;
    f->np = np;
    f->next_gen = 1;
    struct persist_config lc = *cfg->persist;
    lc.timeout_ms = f->ttl_ms / 3 < 500 ? 500 : f->ttl_ms / 3; /* a renewal never hangs */
    for (int i = 0; i < FLEET_LEASE_WORKERS; i++) {
        if (!(f->lw[i] = persist_new(&lc, wake, ud))) {
            log_error("relay: cannot start the lease workers");
            while (i-- > 0)
                persist_free(f->lw[i]);
            free(f);
            return NULL;
        }
    }
    strmap_init(&f->rooms);
    log_info("relay: fleet instance %s (lease %lld ms, checkpoint every %lld ms)", f->instance,
             (long long)f->ttl_ms, (long long)f->interval_ms);
    return f;
}

static void froom_clear_restore(struct froom *fr)
{
    free(fr->ckpt_body);
    free(fr->state_body);
    fr->ckpt_body = fr->state_body = NULL;
    fr->have_ckpt = fr->have_state = false;
}

static void froom_remove(struct fleet *f, struct froom *fr)
{
    strmap_del(&f->rooms, fr->id);
    if (fr->prev)
        fr->prev->next = fr->next;
    else
        f->head = fr->next;
    if (fr->next)
        fr->next->prev = fr->prev;
    froom_clear_restore(fr);
    free(fr);
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    for (int i = 0; i < FLEET_LEASE_WORKERS; i++)
        persist_free(f->lw[i]);
    while (f->head)
        froom_remove(f, f->head);
    strmap_clear(&f->rooms);
    free(f);
}

static struct froom *froom_find(struct fleet *f, const char *id)
{
    return strmap_get(&f->rooms, id);
}

static void froom_start(struct fleet *f, struct froom *fr)
{
    fr->phase = PH_ACQUIRING;
    fr->gen = f->next_gen++;
    lease_init(&fr->lease, f->ttl_ms);
    fr->held_retry_ms = 0;
    fr->was_held = fr->reacquire = false;
    fr->puts_in_flight = 0;
    fr->force_ckpt = false;
    froom_clear_restore(fr);
}

/* ---- requests ---- */

static struct persist *state_worker(struct fleet *f, const char *room_id)
{
    return net_persist_worker(f->np, room_id);
}

static struct persist *lease_worker(struct fleet *f, const char *room_id)
{
    return f->lw[net_persist_shard(room_id, FLEET_LEASE_WORKERS)];
}

static void send_lease(struct fleet *f, struct froom *fr, bool renew)
{
    json_t *b =
        renew ? json_pack("{sssIsI}", "holder", f->instance, "ttl_ms", (json_int_t)fr->lease.ttl_ms,
                          "fence", (json_int_t)fr->lease.fence)
              : json_pack("{sssI}", "holder", f->instance, "ttl_ms", (json_int_t)fr->lease.ttl_ms);
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!s || persist_submit(lease_worker(f, fr->id), PERSIST_LEASE, fr->id, 0, s, strlen(s),
                             fr->gen) != 0) {
        /* an answer that never comes: counted as a transient failure at once */
        f->st.lease_errors++;
        (void)lease_result(&fr->lease, LEASE_ANS_TRANSIENT, 0, -1, 0, ACQUIRE_ATTEMPTS);
    }
}

static void send_free(struct fleet *f, struct froom *fr)
{
    fr->free_in_flight = true;
    if (persist_submit(lease_worker(f, fr->id), PERSIST_LEASE_FREE, fr->id, fr->lease.fence, NULL,
                       0, fr->gen) != 0)
        fr->free_in_flight = false; /* the lease simply expires */
}

static void send_checkpoint(struct fleet *f, struct froom *fr, struct relay_room *room)
{
    json_t *doc = relay_room_checkpoint(room);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s) {
        f->st.checkpoints_failed++;
        return;
    }
    size_t len = strlen(s);
    fr->put_changes = relay_room_changes(room);
    fr->put_bytes = len;
    fr->force_ckpt = false;
    if (persist_submit(state_worker(f, fr->id), PERSIST_CKPT_PUT, fr->id, fr->lease.fence, s, len,
                       fr->gen) != 0) {
        f->st.checkpoints_failed++;
        return;
    }
    fr->puts_in_flight++;
}

/* ---- closing rooms ---- */

/* Closes the room's peers and frees it (the room_freed hook sees the phase and does nothing
 * more); the entry goes to PH_GONE, which releases the lease if asked (held and not lost). */
static void evict(struct fleet *f, struct froom *fr, struct relay_hub *hub, int code,
                  const char *reason, bool release)
{
    fr->phase = PH_GONE;
    if (!release)
        fr->lease.state = LEASE_LOST;
    struct relay_room *room = relay_hub_find_room(hub, fr->id);
    if (room)
        relay_room_evict(room, code, reason);
}

/* PH_GONE / PH_RELEASING progress; removes the entry when nothing is left to do. */
static void gone_step(struct fleet *f, struct froom *fr)
{
    if (fr->lease.in_flight || fr->free_in_flight || fr->del_in_flight || fr->puts_in_flight)
        return;
    if (fr->phase == PH_RELEASING && fr->lease.state == LEASE_HELD && !fr->free_in_flight &&
        fr->lease.fence > 0) {
        fr->phase = PH_GONE; /* the checkpoint is deleted: now the lease */
        send_free(f, fr);
        fr->lease.state = LEASE_NONE;
        return;
    }
    if (fr->phase == PH_GONE && fr->lease.state == LEASE_HELD) {
        send_free(f, fr);
        fr->lease.state = LEASE_NONE;
        return;
    }
    if (fr->reacquire && !f->draining) {
        froom_start(f, fr);
        return;
    }
    froom_remove(f, fr);
}

/* ---- hooks ---- */

void fleet_room_created(struct fleet *f, struct relay_room *room, int64_t now_ms)
{
    if (f->unsupported) {
        net_persist_load(f->np, room);
        return;
    }
    struct froom *fr = froom_find(f, relay_room_id(room));
    if (fr) { /* still releasing the previous room of this id: acquire once released */
        fr->reacquire = true;
        return;
    }
    if (!(fr = calloc(1, sizeof *fr)))
        return; /* the rules' load bound closes the joiners */
    snprintf(fr->id, sizeof fr->id, "%s", relay_room_id(room));
    if (strmap_put(&f->rooms, fr->id, fr) != 0) {
        free(fr);
        return;
    }
    fr->next = f->head;
    if (f->head)
        f->head->prev = fr;
    f->head = fr;
    froom_start(f, fr);
    (void)now_ms;
}

void fleet_room_freed(struct fleet *f, struct relay_room *room)
{
    struct froom *fr = froom_find(f, relay_room_id(room));
    if (!fr || fr->phase == PH_GONE || fr->phase == PH_RELEASING)
        return;
    if (fr->phase == PH_SERVING && fr->lease.state == LEASE_HELD) {
        /* freed the normal way: the room no longer exists, nor its checkpoint */
        fr->phase = PH_RELEASING;
        fr->del_in_flight = persist_submit(state_worker(f, fr->id), PERSIST_CKPT_DELETE, fr->id,
                                           fr->lease.fence, NULL, 0, fr->gen) == 0;
        return;
    }
    fr->phase = PH_GONE; /* freed while loading (load bound): just release */
    gone_step(f, fr);
}

void fleet_room_saved(struct fleet *f, struct relay_room *room)
{
    struct froom *fr = froom_find(f, relay_room_id(room));
    if (fr && fr->phase == PH_SERVING)
        fr->force_ckpt = true; /* the next checkpoint records the new saved version */
}

/* ---- restore ---- */

static char *take_body(const struct persist_result *r, size_t *len)
{
    *len = 0;
    if (!r->body)
        return NULL;
    char *b = malloc(r->body_len + 1);
    if (b) {
        memcpy(b, r->body, r->body_len);
        b[r->body_len] = '\0';
        *len = r->body_len;
    }
    return b;
}

/* The room's saved version from a GET state answer: -1 never saved (404), -2 unreadable. */
static long long state_version(long status, const char *body, size_t len)
{
    if (status == 404)
        return -1;
    if (status != 200 || !body)
        return -2;
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(doc, "version");
    long long ver = json_is_integer(v) ? json_integer_value(v) : -2;
    json_decref(doc);
    return ver;
}

static void try_restore(struct fleet *f, struct froom *fr, struct relay_hub *hub, int64_t now_ms)
{
    if (!fr->have_ckpt || !fr->have_state)
        return;
    struct relay_room *room = relay_hub_find_room(hub, fr->id);
    if (!room) {
        froom_clear_restore(fr);
        fr->phase = PH_GONE;
        return;
    }
    long long ver = state_version(fr->state_status, fr->state_body, fr->state_len);
    json_t *ck = fr->ckpt_status == 200 && fr->ckpt_body
                     ? json_loadb(fr->ckpt_body, fr->ckpt_len, 0, NULL)
                     : NULL;
    json_t *sv = json_object_get(ck, "saved_version");
    long long ck_ver = json_is_integer(sv) ? json_integer_value(sv) : -1;
    bool ok = ver != -2 && (fr->ckpt_status == 200 || fr->ckpt_status == 404) &&
              (fr->ckpt_status == 404 || (ck && (json_is_null(sv) || json_is_integer(sv))));
    if (ok && ck && ck_ver == ver) {
        ok = relay_room_restore_checkpoint(room, json_object_get(ck, "state"), ver, now_ms) == 0;
        if (ok)
            f->st.restored_checkpoint++;
    } else if (ok && ver >= 0) {
        struct persist_result r = {.kind = PERSIST_LOAD, .http_status = 200};
        r.body = fr->state_body;
        r.body_len = fr->state_len;
        ok = net_persist_apply_state(room, &r, now_ms) == 0;
        if (ok)
            f->st.restored_save++;
    } else if (ok) {
        relay_room_restore_none(room);
        f->st.restored_none++;
    }
    json_decref(ck);
    froom_clear_restore(fr);
    if (!ok) {
        log_warn("relay: room %s: state not readable (checkpoint HTTP %ld, state HTTP %ld): "
                 "closing its players",
                 fr->id, fr->ckpt_status, fr->state_status);
        f->st.restore_failed++;
        f->st.rooms_refused++;
        evict(f, fr, hub, RELAY_CLOSE_UNAVAIL, "room_unavailable", true);
        return;
    }
    fr->phase = PH_SERVING;
    fr->ckpt_changes = relay_room_changes(room);
    fr->next_ckpt_ms = now_ms + f->interval_ms;
}

void fleet_on_state_result(void *fleet, struct relay_hub *hub, const struct persist_result *r,
                           int64_t now_ms)
{
    struct fleet *f = fleet;
    struct froom *fr = froom_find(f, r->room_id);
    if (!fr || fr->gen != r->tag)
        return;
    switch (r->kind) {
    case PERSIST_CKPT_GET:
    case PERSIST_LOAD:
        if (fr->phase != PH_LOADING)
            return;
        if (r->kind == PERSIST_CKPT_GET) {
            fr->have_ckpt = true;
            fr->ckpt_status = r->http_status;
            fr->ckpt_body = take_body(r, &fr->ckpt_len);
        } else {
            fr->have_state = true;
            fr->state_status = r->http_status;
            fr->state_body = take_body(r, &fr->state_len);
        }
        try_restore(f, fr, hub, now_ms);
        if (fr->phase == PH_GONE)
            gone_step(f, fr);
        return;
    case PERSIST_CKPT_PUT:
        if (fr->puts_in_flight)
            fr->puts_in_flight--;
        if (r->http_status == 200) {
            f->st.checkpoints_written++;
            f->st.checkpoint_bytes += fr->put_bytes;
            f->st.checkpoint_seconds += (double)r->elapsed_us / 1e6;
            fr->ckpt_changes = fr->put_changes;
        } else {
            f->st.checkpoints_failed++;
            log_warn("relay: room %s: checkpoint not written (HTTP %ld%s%s)", fr->id,
                     r->http_status, r->http_status ? "" : ": ", r->http_status ? "" : r->error);
            if (r->http_status == 409 && (fr->phase == PH_SERVING || fr->phase == PH_DRAINING)) {
                f->st.leases_lost++;
                log_warn("relay: room %s: lease lost (checkpoint refused): closing its players",
                         fr->id);
                evict(f, fr, hub, RELAY_CLOSE_LEASE_LOST, "lease_lost", false);
                return;
            }
        }
        if (fr->phase == PH_DRAINING && fr->puts_in_flight == 0 && !fr->free_in_flight) {
            if (fr->lease.in_flight)
                return; /* fleet_poll releases once the renewal is answered */
            send_free(f, fr);
        }
        if (fr->phase == PH_GONE || fr->phase == PH_RELEASING)
            gone_step(f, fr);
        return;
    case PERSIST_CKPT_DELETE:
        fr->del_in_flight = false;
        if (r->http_status == 204 || r->http_status == 404)
            f->st.checkpoints_deleted++;
        gone_step(f, fr);
        return;
    default:
        return;
    }
}

/* ---- lease answers ---- */

static void on_lease(struct fleet *f, struct relay_hub *hub, const struct persist_result *r,
                     int64_t now_ms)
{
    json_t *b = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(b, "type"));
    json_t *fence_j = json_object_get(b, "fence"), *exp_j = json_object_get(b, "expires_in_ms");
    int64_t fence = json_is_integer(fence_j) ? json_integer_value(fence_j) : 0;
    int64_t exp = json_is_integer(exp_j) ? json_integer_value(exp_j) : -1;
    enum lease_answer a = lease_classify(r->http_status, type);
    json_decref(b);
    struct froom *fr = froom_find(f, r->room_id);
    if (!fr || fr->gen != r->tag) {
        if (!fr && a == LEASE_ANS_OK && fence > 0 && /* granted for a room long gone */
            persist_submit(lease_worker(f, r->room_id), PERSIST_LEASE_FREE, r->room_id, fence, NULL,
                           0, 0) != 0)
            log_info("relay: room %s: stray lease left to expire", r->room_id);
        return;
    }
    if (r->kind == PERSIST_LEASE_FREE) {
        fr->free_in_flight = false;
        if (r->http_status == 204)
            f->st.leases_released++;
        if (fr->phase == PH_DRAINING) {
            evict(f, fr, hub, RELAY_CLOSE_MOVED, "moved", false);
            fr->lease.state = LEASE_NONE;
        }
        gone_step(f, fr);
        return;
    }
    if (a == LEASE_ANS_TRANSIENT || a == LEASE_ANS_REFUSED)
        f->st.lease_errors++;
    enum lease_event ev = lease_result(&fr->lease, a, fence, exp, now_ms, ACQUIRE_ATTEMPTS);
    switch (ev) {
    case LEASE_EV_GRANTED:
        f->st.leases_acquired++;
        if (fr->was_held)
            f->st.leases_taken_over++;
        if (fr->phase != PH_ACQUIRING)
            break; /* gone meanwhile: gone_step releases it */
        fr->phase = PH_LOADING;
        if (persist_submit(state_worker(f, fr->id), PERSIST_CKPT_GET, fr->id, 0, NULL, 0,
                           fr->gen) != 0 ||
            persist_submit(state_worker(f, fr->id), PERSIST_LOAD, fr->id, 0, NULL, 0, fr->gen) !=
                0) {
            fr->have_ckpt = fr->have_state = true; /* unreadable: try_restore refuses */
            fr->ckpt_status = fr->state_status = 0;
            try_restore(f, fr, hub, now_ms);
        }
        break;
    case LEASE_EV_RENEWED:
        f->st.leases_renewed++;
        break;
    case LEASE_EV_HELD:
        f->st.leases_held_elsewhere++;
        fr->was_held = true;
        if (fr->phase == PH_ACQUIRING)
            fr->held_retry_ms = now_ms + (exp > 0 && exp + HELD_RETRY_MIN_MS < HELD_RETRY_MAX_MS
                                              ? exp + HELD_RETRY_MIN_MS
                                              : HELD_RETRY_MAX_MS);
        break;
    case LEASE_EV_LOST:
        f->st.leases_lost++;
        log_warn("relay: room %s: lease lost (fence %lld): closing its players", fr->id,
                 (long long)fr->lease.fence);
        evict(f, fr, hub, RELAY_CLOSE_LEASE_LOST, "lease_lost", false);
        break;
    case LEASE_EV_FAILED:
        if (r->http_status == 404 || r->http_status == 405 || r->http_status == 0 ||
            r->http_status >= 500) {
            /* a roomstate-server without the fleet API (an older version: from now on for
             * every room), or none reachable: host the room as a single relay does, without
             * lease or checkpoints (availability first; README "Several relays") */
            bool old = r->http_status == 404 || r->http_status == 405;
            if (old && !f->unsupported)
                log_warn("relay: roomstate-server has no lease endpoint (HTTP %ld): leases "
                         "and checkpoints off",
                         r->http_status);
            else if (!old)
                log_warn("relay: room %s: no lease (%s%ld): hosted without lease or "
                         "checkpoints",
                         fr->id, r->http_status ? "HTTP " : "server unreachable, ", r->http_status);
            f->unsupported = f->unsupported || old;
            f->st.rooms_unleased++;
            struct relay_room *room = relay_hub_find_room(hub, fr->id);
            fr->phase = PH_GONE;
            if (room)
                net_persist_load(f->np, room);
            break;
        }
        f->st.rooms_refused++;
        log_warn("relay: room %s: no lease (HTTP %ld): closing its players", fr->id,
                 r->http_status);
        evict(f, fr, hub, RELAY_CLOSE_UNAVAIL, "room_unavailable", false);
        break;
    case LEASE_EV_NONE:
        break;
    }
    if (fr->phase == PH_DRAINING && !fr->lease.in_flight && fr->puts_in_flight == 0 &&
        !fr->free_in_flight && fr->lease.state == LEASE_HELD)
        send_free(f, fr);
    if (fr->phase == PH_GONE || fr->phase == PH_RELEASING)
        gone_step(f, fr);
}

void fleet_poll(struct fleet *f, struct relay_hub *hub, int64_t now_ms)
{
    struct persist_result r;
    for (int i = 0; i < FLEET_LEASE_WORKERS; i++)
        while (persist_poll(f->lw[i], &r)) {
            on_lease(f, hub, &r, now_ms);
            persist_result_clear(&r);
        }
}

/* ---- timers ---- */

void fleet_tick(struct fleet *f, struct relay_hub *hub, int64_t now_ms)
{
    int64_t due = INT64_MAX;
    struct froom *fr = f->head;
    while (fr) {
        struct froom *next = fr->next;
        bool renew;
        if (lease_expired(&fr->lease, now_ms) &&
            (fr->phase == PH_LOADING || fr->phase == PH_SERVING || fr->phase == PH_DRAINING)) {
            f->st.leases_lost++;
            log_warn("relay: room %s: lease not renewed in time: closing its players", fr->id);
            evict(f, fr, hub, RELAY_CLOSE_LEASE_LOST, "lease_lost", false);
            gone_step(f, fr);
            fr = next;
            continue;
        }
        if (f->draining && fr->phase == PH_ACQUIRING && !fr->lease.in_flight) {
            /* created after the drain began (a handshake accepted just before) */
            evict(f, fr, hub, RELAY_CLOSE_MOVED, "moved", true);
            gone_step(f, fr);
            fr = next;
            continue;
        }
        if (fr->phase == PH_ACQUIRING && fr->lease.state == LEASE_HELD_ELSEWHERE &&
            now_ms >= fr->held_retry_ms) {
            bool held = fr->was_held;
            lease_init(&fr->lease, f->ttl_ms);
            fr->was_held = held;
        }
        if (fr->phase <= PH_DRAINING && !fr->free_in_flight &&
            lease_next(&fr->lease, now_ms, &renew))
            send_lease(f, fr, renew);
        if (fr->phase == PH_SERVING && !f->draining && fr->puts_in_flight == 0 &&
            now_ms >= fr->next_ckpt_ms) {
            struct relay_room *room = relay_hub_find_room(hub, fr->id);
            if (room && (fr->force_ckpt || relay_room_changes(room) != fr->ckpt_changes))
                send_checkpoint(f, fr, room);
            fr->next_ckpt_ms = now_ms + f->interval_ms;
        }
        if (fr->lease.state == LEASE_HELD && fr->lease.valid_until_ms < due)
            due = fr->lease.valid_until_ms;
        fr = next;
    }
    f->due_ms = due;
}

bool fleet_tick_due(const struct fleet *f, int64_t now_ms)
{
    return f->head && now_ms >= f->due_ms;
}

/* ---- drain ---- */

static void shutdown_untracked(struct relay_room *room, void *ud)
{
    if (!froom_find(ud, relay_room_id(room)))
        relay_room_shutdown(room);
}

void fleet_drain(struct fleet *f, struct relay_hub *hub, int64_t now_ms)
{
    if (f->draining)
        return;
    f->draining = true;
    log_info("relay: draining: final checkpoints, then the rooms' leases are released");
    struct froom *fr = f->head;
    while (fr) {
        struct froom *next = fr->next;
        struct relay_room *room = relay_hub_find_room(hub, fr->id);
        fr->reacquire = false;
        if (fr->phase == PH_SERVING && room) {
            fr->phase = PH_DRAINING;
            relay_room_freeze(room);
            send_checkpoint(f, fr, room);
            if (fr->puts_in_flight == 0 && !fr->lease.in_flight)
                send_free(f, fr); /* the checkpoint could not even be queued */
        } else if (fr->phase == PH_ACQUIRING || fr->phase == PH_LOADING) {
            evict(f, fr, hub, RELAY_CLOSE_MOVED, "moved", true);
            gone_step(f, fr);
        }
        fr = next;
    }
    relay_hub_foreach_room(hub, shutdown_untracked, f); /* hosted without a lease */
    (void)now_ms;
}

bool fleet_idle(const struct fleet *f)
{
    return f->head == NULL;
}

/* ---- figures ---- */

const char *fleet_instance(const struct fleet *f)
{
    return f->instance;
}

size_t fleet_rooms_hosted(const struct fleet *f)
{
    size_t n = 0;
    for (const struct froom *fr = f->head; fr; fr = fr->next)
        n += fr->phase == PH_SERVING || fr->phase == PH_DRAINING;
    return n;
}

size_t fleet_leases_held(const struct fleet *f)
{
    size_t n = 0;
    for (const struct froom *fr = f->head; fr; fr = fr->next)
        n += fr->lease.state == LEASE_HELD;
    return n;
}

const struct fleet_stats *fleet_stats(const struct fleet *f)
{
    return &f->st;
}
