/* net_persist.c — hands the rules' loads and saves to the persist worker and its results
 * back to the rooms (see net_persist.h). */
#include "relay/net_persist.h"

#include "common/log.h"
#include "relay/persist.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What we remember about a submitted save (loads need nothing but the room id). */
struct pending_save {
    struct pending_save *next;
    uint64_t tag;
    enum relay_save_reason why;
    char room_id[RELAY_MAX_ROOM_ID + 1];
    char user_id[RELAY_MAX_USER_ID + 1];
};

/* A request that could not even be submitted, answered at the next poll. */
struct failed {
    struct failed *next;
    enum persist_kind kind;
    enum relay_save_reason why;
    char room_id[RELAY_MAX_ROOM_ID + 1];
    char user_id[RELAY_MAX_USER_ID + 1];
};

/* Workers, each with its own connection; a room always uses the same one (its requests stay
 * in order: a checkpoint written after a save records the new saved version). */
#define NET_PERSIST_WORKERS 4

struct net_persist {
    struct persist *p[NET_PERSIST_WORKERS];
    void (*other)(void *ud, struct relay_hub *hub, const struct persist_result *r, int64_t now_ms);
    void *other_ud;
    uint64_t next_tag;
    struct pending_save *saves;
    struct failed *failed;
    size_t nfailed;
};

struct net_persist *net_persist_new(const struct persist_config *cfg, void (*wake)(void *ud),
                                    void *ud)
{
    struct net_persist *np = calloc(1, sizeof *np);
    if (!np)
        return NULL;
    for (int i = 0; i < NET_PERSIST_WORKERS; i++) {
        if (!(np->p[i] = persist_new(cfg, wake, ud))) {
            log_error("relay: cannot start the persistence workers");
            while (i-- > 0)
                persist_free(np->p[i]);
            free(np);
            return NULL;
        }
    }
    np->next_tag = 1;
    return np;
}

void net_persist_free(struct net_persist *np)
{
    if (!np)
        return;
    for (int i = 0; i < NET_PERSIST_WORKERS; i++)
        persist_free(np->p[i]);
    while (np->saves) {
        struct pending_save *n = np->saves->next;
        free(np->saves);
        np->saves = n;
    }
    while (np->failed) {
        struct failed *n = np->failed->next;
        free(np->failed);
        np->failed = n;
    }
    free(np);
}

static void add_failed(struct net_persist *np, enum persist_kind kind, enum relay_save_reason why,
                       const char *room_id, const char *user_id)
{
    if (np->nfailed >= PERSIST_MAX_PENDING)
        return; /* bounded: the room simply hears nothing more */
    struct failed *f = calloc(1, sizeof *f);
    if (!f)
        return;
    f->kind = kind;
    f->why = why;
    snprintf(f->room_id, sizeof f->room_id, "%s", room_id);
    snprintf(f->user_id, sizeof f->user_id, "%s", user_id ? user_id : "");
    f->next = np->failed;
    np->failed = f;
    np->nfailed++;
}

void net_persist_load(struct net_persist *np, struct relay_room *room)
{
    const char *id = relay_room_id(room);
    if (persist_submit_load(net_persist_worker(np, id), id, 0) != 0) {
        log_warn("relay: room %s: persistence queue full, not restored", id);
        add_failed(np, PERSIST_LOAD, RELAY_SAVE_EMPTY, id, NULL);
    }
}

void net_persist_save(struct net_persist *np, struct relay_room *room, json_t *doc_steal,
                      enum relay_save_reason why, const char *acting_user_id)
{
    const char *id = relay_room_id(room);
    char *doc = json_dumps(doc_steal, JSON_COMPACT);
    json_decref(doc_steal);
    struct pending_save *ps = calloc(1, sizeof *ps);
    if (!doc || !ps) {
        free(doc);
        free(ps);
        add_failed(np, PERSIST_SAVE, why, id, acting_user_id);
        return;
    }
    ps->tag = np->next_tag++;
    ps->why = why;
    snprintf(ps->room_id, sizeof ps->room_id, "%s", id);
    snprintf(ps->user_id, sizeof ps->user_id, "%s", acting_user_id ? acting_user_id : "");
    if (persist_submit_save(net_persist_worker(np, id), id, doc, strlen(doc), acting_user_id,
                            ps->tag) != 0) {
        free(ps);
        log_warn("relay: room %s: persistence queue full, save refused", id);
        add_failed(np, PERSIST_SAVE, why, id, acting_user_id);
        return;
    }
    ps->next = np->saves;
    np->saves = ps;
}

static struct pending_save *take_save(struct net_persist *np, uint64_t tag)
{
    for (struct pending_save **pp = &np->saves; *pp; pp = &(*pp)->next) {
        if ((*pp)->tag == tag) {
            struct pending_save *ps = *pp;
            *pp = ps->next;
            return ps;
        }
    }
    return NULL;
}

static void on_load(struct relay_room *room, const struct persist_result *r, int64_t now_ms)
{
    const char *id = relay_room_id(room);
    if (r->http_status == 404) {
        relay_room_restore_none(room); /* never saved: a fresh room */
        return;
    }
    if (r->http_status != 200) {
        char why[200];
        if (r->http_status == 0)
            snprintf(why, sizeof why, "server unreachable: %s", r->error);
        else
            snprintf(why, sizeof why, "server answered HTTP %ld", r->http_status);
        log_warn("relay: room %s: restore failed: %s", id, why);
        relay_room_restore_failed(room, why);
        return;
    }
    if (net_persist_apply_state(room, r, now_ms) != 0)
        relay_room_restore_failed(room, "unexpected state document");
}

int net_persist_apply_state(struct relay_room *room, const struct persist_result *r, int64_t now_ms)
{
    const char *id = relay_room_id(room);
    json_error_t err;
    json_t *doc = r->body ? json_loadb(r->body, r->body_len, 0, &err) : NULL;
    json_t *v = doc ? json_object_get(doc, "version") : NULL;
    int rc = 0;
    if (!doc || !json_is_integer(v) ||
        relay_room_restore(room, doc, json_integer_value(v), now_ms) != 0) {
        log_warn("relay: room %s: restore failed: unexpected state document", id);
        rc = -1;
    } else {
        log_info("relay: room %s: restored version %lld", id, json_integer_value(v));
    }
    json_decref(doc);
    return rc;
}

void net_persist_set_other(struct net_persist *np,
                           void (*fn)(void *ud, struct relay_hub *hub,
                                      const struct persist_result *r, int64_t now_ms),
                           void *ud)
{
    np->other = fn;
    np->other_ud = ud;
}

unsigned net_persist_shard(const char *room_id, unsigned n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)room_id; *c; c++)
        h = (h ^ *c) * 16777619u;
    return n ? h % n : 0;
}

struct persist *net_persist_worker(struct net_persist *np, const char *room_id)
{
    return np->p[net_persist_shard(room_id, NET_PERSIST_WORKERS)];
}

static void on_save(struct relay_room *room, const struct pending_save *ps,
                    const struct persist_result *r)
{
    const char *id = relay_room_id(room);
    bool ok = r->http_status == 200 || r->http_status == 201;
    long long version = 0, saved = 0;
    char why[200] = "";
    if (ok) {
        json_error_t err;
        json_t *b = r->body ? json_loadb(r->body, r->body_len, 0, &err) : NULL;
        version = json_integer_value(json_object_get(b, "version"));
        saved = json_integer_value(json_object_get(b, "objects_saved"));
        json_decref(b);
        log_info("relay: room %s: saved version %lld (%lld objects)", id, version, saved);
    } else {
        if (r->http_status == 0)
            snprintf(why, sizeof why, "server_unreachable");
        else
            snprintf(why, sizeof why, "server_error_%ld", r->http_status);
        log_warn("relay: room %s: save failed: %s", id, r->http_status ? why : r->error);
    }
    if (ps->why == RELAY_SAVE_REQUEST)
        relay_room_save_result(room, ok, version, saved, ok ? NULL : why,
                               ps->user_id[0] ? ps->user_id : NULL);
}

/* One finished request (released here). */
static void handle(struct net_persist *np, struct relay_hub *hub, struct persist_result *r,
                   int64_t now_ms)
{
    struct relay_room *room = relay_hub_find_room(hub, r->room_id);
    if ((r->kind == PERSIST_LOAD && r->tag != 0) ||
        (r->kind != PERSIST_LOAD && r->kind != PERSIST_SAVE)) {
        if (np->other)
            np->other(np->other_ud, hub, r, now_ms);
    } else if (r->kind == PERSIST_LOAD) {
        if (room)
            on_load(room, r, now_ms);
    } else {
        struct pending_save *ps = take_save(np, r->tag);
        if (room && ps)
            on_save(room, ps, r);
        else if (ps && ps->why == RELAY_SAVE_EMPTY)
            log_info("relay: room %s: saved after the last player left (HTTP %ld)", r->room_id,
                     r->http_status);
        free(ps);
    }
    persist_result_clear(r);
}

void net_persist_poll(struct net_persist *np, struct relay_hub *hub, int64_t now_ms)
{
    while (np->failed) {
        struct failed *f = np->failed;
        np->failed = f->next;
        np->nfailed--;
        struct relay_room *room = relay_hub_find_room(hub, f->room_id);
        if (room && f->kind == PERSIST_LOAD)
            relay_room_restore_failed(room, "persistence queue full");
        else if (room && f->why == RELAY_SAVE_REQUEST)
            relay_room_save_result(room, false, 0, 0, "queue_full",
                                   f->user_id[0] ? f->user_id : NULL);
        free(f);
    }
    struct persist_result r;
    for (int i = 0; i < NET_PERSIST_WORKERS; i++)
        while (persist_poll(np->p[i], &r))
            handle(np, hub, &r, now_ms);
}

size_t net_persist_pending(const struct net_persist *np)
{
    size_t n = np->nfailed;
    for (int i = 0; i < NET_PERSIST_WORKERS; i++)
        n += persist_pending(np->p[i]);
    return n;
}
