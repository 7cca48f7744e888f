/* fleet.c — the relay fleet's storage calls (fleet.h): the lease decisions, argument
 * checks, and dispatch to the backend's fleet ops. */
#include "store/fleet.h"

#include "common/log.h"
#include "store/store_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t left_ms(int64_t expires_at_ms, int64_t now_ms)
{
    return expires_at_ms > now_ms ? expires_at_ms - now_ms : 0;
}

bool store_lease_live(const struct store_lease *cur, int64_t now_ms)
{
    return cur->fence > 0 && cur->holder[0] && cur->expires_at_ms > now_ms;
}

enum store_status store_lease_view(const struct store_lease *cur, int64_t now_ms,
                                   struct store_lease_result *out)
{
    memset(out, 0, sizeof *out);
    if (!store_lease_live(cur, now_ms))
        return STORE_NOT_FOUND;
    snprintf(out->holder, sizeof out->holder, "%s", cur->holder);
    out->fence = cur->fence;
    out->expires_in_ms = cur->expires_at_ms - now_ms;
    out->outcome = STORE_LEASE_OK;
    return STORE_OK;
}

bool store_lease_fence_holds(const struct store_lease *cur, int64_t fence)
{
    return fence > 0 && cur->fence == fence && cur->holder[0];
}

static void grant(const struct store_lease_req *req, int64_t fence, int64_t now_ms,
                  struct store_lease *next, struct store_lease_result *out)
{
    snprintf(next->holder, sizeof next->holder, "%s", req->holder);
    next->fence = fence;
    next->expires_at_ms = now_ms + req->ttl_ms;
    snprintf(out->holder, sizeof out->holder, "%s", req->holder);
    out->fence = fence;
    out->expires_in_ms = req->ttl_ms;
}

enum store_lease_outcome store_lease_decide(const struct store_lease *cur,
                                            const struct store_lease_req *req, int64_t now_ms,
                                            struct store_lease *next,
                                            struct store_lease_result *out)
{
    memset(out, 0, sizeof *out);
    *next = *cur;
    bool same_holder = cur->holder[0] && !strcmp(cur->holder, req->holder);
    if (req->fence > 0) {
        /* renew: only the holder of the current fence (even just expired, not taken over) */
        if (!same_holder || cur->fence != req->fence)
            return out->outcome = STORE_LEASE_LOST;
        grant(req, cur->fence, now_ms, next, out);
        return out->outcome = STORE_LEASE_OK;
    }
    if (store_lease_live(cur, now_ms)) {
        if (same_holder) { /* idempotent acquire: same fence, later expiry */
            grant(req, cur->fence, now_ms, next, out);
            return out->outcome = STORE_LEASE_OK;
        }
        snprintf(out->holder, sizeof out->holder, "%s", cur->holder);
        out->expires_in_ms = left_ms(cur->expires_at_ms, now_ms);
        return out->outcome = STORE_LEASE_HELD;
    }
    grant(req, cur->fence + 1, now_ms, next, out); /* a new fence, never a reused one */
    return out->outcome = STORE_LEASE_OK;
}

enum store_lease_outcome store_lease_release_decide(const struct store_lease *cur, int64_t fence,
                                                    struct store_lease *next)
{
    *next = *cur;
    if (cur->fence == 0)
        return STORE_LEASE_NONE;
    if (fence != cur->fence)
        return STORE_LEASE_LOST;
    if (!cur->holder[0])
        return STORE_LEASE_NONE; /* released already */
    next->holder[0] = '\0';
    next->expires_at_ms = 0;
    return STORE_LEASE_OK;
}

void store_ckpt_clear(struct store_ckpt *c)
{
    if (!c)
        return;
    free(c->doc);
    memset(c, 0, sizeof *c);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* The store whose backend runs fleet calls: a group-commit store's own connection. */
static const struct store_fleet_ops *target(struct store **s)
{
    struct store *inner = store_group_inner(*s);
    if (inner)
        *s = inner;
    return (*s)->ops->fleet;
}

static bool room_ok(const char *room_id)
{
    return room_id && room_id[0] && strlen(room_id) <= 128;
}

static enum store_status bug(const char *what)
{
    log_bug("%s: invalid request", what);
    return STORE_ERROR;
}

enum store_status store_lease_acquire(struct store *s, const struct store_lease_req *req,
                                      int64_t now_ms, struct store_lease_result *out)
{
    memset(out, 0, sizeof *out);
    if (!req || !room_ok(req->room_id) || !req->holder || !req->holder[0] ||
        strlen(req->holder) > STORE_LEASE_HOLDER_MAX || req->ttl_ms < STORE_LEASE_TTL_MIN_MS ||
        req->ttl_ms > STORE_LEASE_TTL_MAX_MS || req->fence < 0)
        return bug("store_lease_acquire");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->lease_acquire(s, req, now_ms, out) : bug("store_lease_acquire: no backend");
}

enum store_status store_lease_release(struct store *s, const char *room_id, int64_t fence,
                                      int64_t now_ms, enum store_lease_outcome *out)
{
    *out = STORE_LEASE_NONE;
    if (!room_ok(room_id) || fence < 1)
        return bug("store_lease_release");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->lease_release(s, room_id, fence, now_ms, out) : bug("store_lease_release");
}

enum store_status store_lease_get(struct store *s, const char *room_id, int64_t now_ms,
                                  struct store_lease_result *out)
{
    memset(out, 0, sizeof *out);
    if (!room_ok(room_id))
        return bug("store_lease_get");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->lease_get(s, room_id, now_ms, out) : bug("store_lease_get");
}

enum store_status store_ckpt_put(struct store *s, const struct store_ckpt_req *req, int64_t now_ms,
                                 struct store_ckpt *out)
{
    memset(out, 0, sizeof *out);
    if (!req || !room_ok(req->room_id) || req->fence < 1 || !req->doc || req->doc_len < 2 ||
        req->doc_len > (size_t)INT32_MAX || req->ttl_ms < 1)
        return bug("store_ckpt_put");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->ckpt_put(s, req, now_ms, out) : bug("store_ckpt_put");
}

enum store_status store_ckpt_get(struct store *s, const char *room_id, int64_t now_ms,
                                 struct store_ckpt *out)
{
    memset(out, 0, sizeof *out);
    if (!room_ok(room_id))
        return bug("store_ckpt_get");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->ckpt_get(s, room_id, now_ms, out) : bug("store_ckpt_get");
}

enum store_status store_ckpt_delete(struct store *s, const char *room_id, int64_t fence,
                                    int64_t now_ms, enum store_lease_outcome *out)
{
    *out = STORE_LEASE_NONE;
    if (!room_ok(room_id) || fence < 1)
        return bug("store_ckpt_delete");
    const struct store_fleet_ops *f = target(&s);
    return f ? f->ckpt_delete(s, room_id, fence, now_ms, out) : bug("store_ckpt_delete");
}
