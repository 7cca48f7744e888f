/* store_group.c — group commit: one writer thread per database file batches the saves of
 * every store of that file into shared transactions (see store_group.h). */
#include "store/store_group.h"

#include "common/clock.h"
#include "common/log.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gc_req {
    const struct store_save_req *req;
    struct store_save_result *res;
    enum store_status st;
    bool taken; /* by the writer, into a batch: it answers (no more timing out) */
    bool done;
    pthread_cond_t cond; /* signalled (under g->mu) when done (a waiting caller's) */
    /* a queued save (store_group_save_async): the writer calls on_done and frees it */
    store_save_done_fn on_done;
    void *arg;
    bool expired;                  /* taken past its deadline: STORE_BUSY, not run */
    struct store_save_req bounded; /* its request, with its deadline set */
    struct gc_req *next;
};

struct store_group {
    char *path;       /* real path: the registry key */
    int refs;         /* under registry_mu */
    struct store *ws; /* the writer's own connection (a plain backend store) */
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t wake;
    struct gc_req *head, *tail;
    bool stop;
    struct store_group_stats stats;
    int lock_wait_ms;         /* a save's deadline when it brings none */
    struct store_group *next; /* registry list, under registry_mu */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store_group *registry;

static void *writer_main(void *arg)
{
    struct store_group *g = arg;
    struct gc_req *batch[STORE_GROUP_MAX_BATCH];
    const struct store_save_req *reqs[STORE_GROUP_MAX_BATCH];
    struct store_save_result *res[STORE_GROUP_MAX_BATCH];
    enum store_status st[STORE_GROUP_MAX_BATCH];
    pthread_setname_np(pthread_self(), "rs-group-write"); /* top -H, perf, gdb */

    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->head && !g->stop)
            pthread_cond_wait(&g->wake, &g->mu);
        if (!g->head)
            break; /* stopping, and nothing is queued */
        size_t n = 0, live = 0;
        unsigned long long bytes = 0;
        int64_t now = clock_mono_ns();
        while (g->head && n < STORE_GROUP_MAX_BATCH &&
               (n == 0 || bytes + g->head->req->doc_len <= STORE_GROUP_MAX_BATCH_BYTES)) {
            struct gc_req *r = g->head;
            g->head = r->next;
            r->taken = true;
            batch[n++] = r;
            if (r->on_done && now >= r->req->deadline_ns) { /* nobody waits to time it out */
                r->expired = true;
                log_warn("store: a save waited its bound for the group-commit writer: refused");
                continue;
            }
            bytes += r->req->doc_len;
            reqs[live] = r->req;
            res[live] = r->res;
            live++;
        }
        if (!g->head)
            g->tail = NULL;
        pthread_mutex_unlock(&g->mu);

        if (live)
            g->ws->ops->save_batch(g->ws, reqs, res, st, live);

        pthread_mutex_lock(&g->mu);
        size_t queued = 0; /* batch[0..queued): the queued saves, answered below */
        for (size_t i = 0, k = 0; i < n; i++) {
            struct gc_req *r = batch[i];
            r->st = r->expired ? STORE_BUSY : st[k++];
            r->done = true;
            if (r->on_done)
                batch[queued++] = r; /* (i >= queued: nothing unread is overwritten) */
            else
                pthread_cond_signal(&r->cond); /* its waiter frees r once it has g->mu */
        }
        g->stats.saves += live;
        g->stats.batches++;
        if (live > g->stats.max_batch)
            g->stats.max_batch = live;
        if (queued) { /* their callbacks run without the lock (they may take others) */
            pthread_mutex_unlock(&g->mu);
            for (size_t i = 0; i < queued; i++) {
                batch[i]->on_done(batch[i]->arg, batch[i]->st);
                free(batch[i]);
            }
            pthread_mutex_lock(&g->mu);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Unlinks r from the queue (not taken yet: it is there). */
static void queue_remove(struct store_group *g, struct gc_req *r)
{
    struct gc_req *prev = NULL;
    for (struct gc_req *q = g->head; q; prev = q, q = q->next) {
        if (q != r)
            continue;
        if (prev)
            prev->next = r->next;
        else
            g->head = r->next;
        if (g->tail == r)
            g->tail = prev;
        return;
    }
}

/* Waits (g->mu held) until r is done, or until its deadline while it is still queued:
 * then it is unlinked and fails with STORE_BUSY.  Once the writer has taken it, the writer
 * answers (it waits for the lock until the batch's earliest deadline at most). */
static void wait_done(struct store_group *g, struct gc_req *r, int64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000),
                          .tv_nsec = (long)(deadline_ns % 1000000000)};
    while (!r->done) {
        if (r->taken) {
            pthread_cond_wait(&r->cond, &g->mu);
            continue;
        }
        if (clock_mono_ns() >= deadline_ns) {
            queue_remove(g, r);
            r->st = STORE_BUSY;
            r->done = true;
            log_warn("store: a save waited its bound for the group-commit writer: refused");
            break;
        }
        pthread_cond_timedwait(&r->cond, &g->mu, &ts);
    }
}

/* Appends r to the queue and wakes the writer (g->mu held); false when the group stops. */
static bool enqueue(struct store_group *g, struct gc_req *r)
{
    if (g->stop) {
        log_bug("save on a stopped group");
        return false;
    }
    if (g->tail)
        g->tail->next = r;
    else
        g->head = r;
    g->tail = r;
    pthread_cond_signal(&g->wake);
    return true;
}

static enum store_status group_save(struct store_group *g, const struct store_save_req *req,
                                    struct store_save_result *res)
{
    struct store_save_req bounded = *req; /* with its deadline set */
    struct gc_req r = {.req = &bounded, .res = res, .st = STORE_ERROR};
    pthread_condattr_t ca;
    enum store_status st;
    if (bounded.deadline_ns <= 0)
        bounded.deadline_ns = clock_mono_ns() + (int64_t)g->lock_wait_ms * 1000000;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&r.cond, &ca) != 0) {
        log_error("store: pthread_cond_init failed");
        return STORE_ERROR;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&g->mu);
    if (!enqueue(g, &r)) {
        pthread_mutex_unlock(&g->mu);
        pthread_cond_destroy(&r.cond);
        return STORE_ERROR;
    }
    wait_done(g, &r, bounded.deadline_ns);
    st = r.st;
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&r.cond);
    return st;
}

static bool group_save_async(struct store_group *g, const struct store_save_req *req,
                             struct store_save_result *res, store_save_done_fn on_done, void *arg)
{
    struct gc_req *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->bounded = *req;
    if (r->bounded.deadline_ns <= 0)
        r->bounded.deadline_ns = clock_mono_ns() + (int64_t)g->lock_wait_ms * 1000000;
    r->req = &r->bounded;
    r->res = res;
    r->on_done = on_done;
    r->arg = arg;
    memset(res, 0, sizeof *res);
    pthread_mutex_lock(&g->mu);
    bool queued = enqueue(g, r);
    pthread_mutex_unlock(&g->mu);
    if (!queued)
        free(r);
    return queued;
}

static void group_free(struct store_group *g)
{
    if (!g)
        return;
    store_close(g->ws);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g->path);
    free(g);
}

static enum store_status group_new(const struct store_ops *backend, const char *real,
                                   const struct store_options *opts, struct store_group **out,
                                   char *err, size_t errsize)
{
    struct store_group *g = calloc(1, sizeof *g);
    enum store_status rc = STORE_ERROR;
    bool sync_ok = false;
    *out = NULL;
    if (!g || !(g->path = strdup(real))) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    if (pthread_mutex_init(&g->mu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&g->wake, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        goto out;
    }
    sync_ok = true;
    struct store_options wo = *opts;
    wo.group_commit = false; /* the writer's own connection */
    wo.background_checkpoint = true;
    g->lock_wait_ms = wo.lock_wait_ms;
    rc = backend->open(real, &wo, &g->ws, err, errsize);
    if (rc)
        goto out;
    if (pthread_create(&g->thread, NULL, writer_main, g) != 0) {
        snprintf(err, errsize, "cannot start the group-commit writer thread");
        rc = STORE_ERROR;
        goto out;
    }
    g->refs = 1;
    *out = g;
    g = NULL;
    rc = STORE_OK;
out:
    if (g && sync_ok) {
        group_free(g);
    } else if (g) {
        free(g->path);
        free(g);
    }
    return rc;
}

static enum store_status group_acquire(const struct store_ops *backend, const char *path,
                                       const struct store_options *opts, struct store_group **out,
                                       char *err, size_t errsize)
{
    char real[PATH_MAX];
    struct store_group *g;
    enum store_status rc = STORE_OK;
    *out = NULL;
    if (!realpath(path, real)) {
        snprintf(err, errsize, "database %s: cannot resolve its path", path);
        return STORE_ERROR;
    }
    pthread_mutex_lock(&registry_mu);
    for (g = registry; g; g = g->next)
        if (!strcmp(g->path, real))
            break;
    if (g) {
        g->refs++;
    } else {
        rc = group_new(backend, real, opts, &g, err, errsize);
        if (rc == STORE_OK) {
            g->next = registry;
            registry = g;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    *out = g;
    return rc;
}

static void group_release(struct store_group *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&registry_mu);
    bool last = --g->refs == 0;
    if (last) {
        for (struct store_group **p = &registry; *p; p = &(*p)->next) {
            if (*p == g) {
                *p = g->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (!last)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    group_free(g);
}

/* ---- the group store: saves through the writer, the rest on its own connection ---------- */

struct group_store {
    struct store base; /* first */
    struct store *inner;
    struct store_group *g;
};

static struct group_store *gs(struct store *s)
{
    return (struct group_store *)s;
}

static void gs_close(struct store *s)
{
    group_release(gs(s)->g);
    store_close(gs(s)->inner);
    free(s);
}

static bool gs_ready(struct store *s)
{
    return store_ready(gs(s)->inner);
}

static enum store_status gs_save(struct store *s, const struct store_save_req *req,
                                 struct store_save_result *res)
{
    memset(res, 0, sizeof *res);
    return group_save(gs(s)->g, req, res); /* req checked by store_room_save */
}

static enum store_status gs_get(struct store *s, const char *room_id, int64_t version,
                                int64_t unless_version, struct store_state *out)
{
    struct store *in = gs(s)->inner; /* arguments checked by store.c */
    return in->ops->room_get(in, room_id, version, unless_version, out);
}

static enum store_status gs_version(struct store *s, const char *room_id, int64_t *version)
{
    return store_room_version(gs(s)->inner, room_id, version);
}

static enum store_status gs_versions(struct store *s, const char *room_id,
                                     struct store_version_info **out, size_t *n)
{
    return store_room_versions(gs(s)->inner, room_id, out, n);
}

static enum store_status gs_delete(struct store *s, const char *room_id, int64_t if_match)
{
    return store_room_delete(gs(s)->inner, room_id, if_match);
}

static enum store_status gs_rooms_list(struct store *s, char ***ids, size_t *n)
{
    return store_rooms_list(gs(s)->inner, ids, n);
}

static enum store_status gs_counter(struct store *s, const char *room_id,
                                    struct store_room_counter *out)
{
    return store_room_counter(gs(s)->inner, room_id, out);
}

static enum store_status gs_import(struct store *s, const struct store_room_copy *in)
{
    return store_room_import(gs(s)->inner, in);
}

static const struct store_ops group_ops = {
    .name = "group",
    .open = NULL, /* made by store_group_open */
    .close = gs_close,
    .ready = gs_ready,
    .room_save = gs_save,
    .room_get = gs_get,
    .room_version = gs_version,
    .room_versions = gs_versions,
    .room_delete = gs_delete,
    .rooms_list = gs_rooms_list,
    .room_counter = gs_counter,
    .room_import = gs_import,
    .save_batch = NULL,
};

enum store_status store_group_open(const struct store_ops *backend, const char *path,
                                   const struct store_options *opts, struct store **out, char *err,
                                   size_t errsize)
{
    struct store_options plain;
    enum store_status rc;
    *out = NULL;
    if (!backend->save_batch) {
        snprintf(err, errsize, "the %s backend has no group commit", backend->name);
        return STORE_ERROR;
    }
    struct group_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return STORE_ERROR;
    }
    s->base.ops = &group_ops;
    if (opts)
        plain = *opts;
    else
        store_options_default(&plain);
    plain.group_commit = false;
    rc = backend->open(path, &plain, &s->inner, err, errsize);
    if (rc == STORE_OK)
        rc = group_acquire(backend, path, &plain, &s->g, err, errsize);
    if (rc) {
        store_close(s->inner);
        free(s);
        return rc;
    }
    *out = &s->base;
    return STORE_OK;
}

bool store_group_save_async(struct store *s, const struct store_save_req *req,
                            struct store_save_result *res, store_save_done_fn on_done, void *arg)
{
    if (!s || s->ops != &group_ops || !store_save_req_ok(req))
        return false;
    return group_save_async(gs(s)->g, req, res, on_done, arg);
}

struct store *store_group_inner(struct store *s)
{
    return s && s->ops == &group_ops ? gs(s)->inner : NULL;
}

bool store_group_stats_of(struct store *s, struct store_group_stats *out)
{
    if (!s || s->ops != &group_ops)
        return false;
    struct store_group *g = gs(s)->g;
    pthread_mutex_lock(&g->mu);
    *out = g->stats;
    pthread_mutex_unlock(&g->mu);
    return true;
}
