/* h_rooms.c — save, state, versions and delete of a room (see h_rooms.h).  Handlers stay
 * thin: the rules live in common/roomdoc.c, the storage in store/. */
#include "server/h_rooms.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/roomdoc.h"
#include "server/cache.h"
#include "server/dbpool.h"
#include "server/metrics.h"
#include "server/precond.h"
#include "server/reply.h"
#include "server/saveq.h"
#include "store/store.h"
#include "store/store_group.h"
#include "store/store_watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETAG_MAX 24
#define LOCATION_MAX (HTTP_ROOM_ID_MAX + 32)

static enum MHD_Result reply_store_error(struct http_req *r, enum store_status st)
{
    char detail[256];
    switch (st) {
    case STORE_NOT_FOUND:
        snprintf(detail, sizeof detail, "room '%s' has no saved state", r->room_id);
        return reply_problem(r, REPLY_NOT_FOUND, detail, NULL, NULL);
    case STORE_PRECONDITION_FAILED:
        return reply_problem(r, REPLY_PRECONDITION_FAILED,
                             "If-Match does not name the room's current version", NULL, NULL);
    default:
        return reply_store_failure(r, st);
    }
}

static enum MHD_Result reply_precondition_failed(struct http_req *r)
{
    return reply_store_error(r, STORE_PRECONDITION_FAILED);
}

/* The If-Match precondition pc as one version for the store (-1: none).  Returns false
 * when the precondition already fails (or *st is set to a store error). */
/* Whether if_match_of needs the room's current version from the store: for `*`, or a list
 * of several ETags (none, or one version, the store checks by itself). */
static bool if_match_needs_read(const struct precond *pc)
{
    return pc->kind != PRECOND_NONE && (pc->kind != PRECOND_LIST || pc->n > 1);
}

static bool if_match_of(const struct precond *pc, struct store *s, const char *room_id,
                        int64_t *out, enum store_status *st)
{
    int64_t cur = 0;
    *st = STORE_OK;
    *out = -1;
    if (!if_match_needs_read(pc)) {
        if (pc->kind == PRECOND_LIST && pc->n == 0)
            return false;
        if (pc->kind == PRECOND_LIST)
            *out = pc->versions[0];
        return true;
    }
    *st = store_room_version(s, room_id, &cur);
    if (*st == STORE_NOT_FOUND) {
        *st = STORE_OK;
        return false;
    }
    if (*st != STORE_OK || !precond_matches(pc, cur))
        return false;
    *out = cur; /* the store re-checks it atomically */
    return true;
}

/* The same from the request's If-Match header. */
static bool if_match_version(struct http_req *r, struct store *s, int64_t *out,
                             enum store_status *st)
{
    struct precond pc;
    precond_parse(http_header(r, MHD_HTTP_HEADER_IF_MATCH), false, &pc);
    return if_match_of(&pc, s, r->room_id, out, st);
}

static json_t *saved_by_json(const struct store_saved_by *sb)
{
    json_t *o = json_object();
    json_object_set_new(o, "user_id", sb->user_id[0] ? json_string(sb->user_id) : json_null());
    json_object_set_new(o, "username", sb->username[0] ? json_string(sb->username) : json_null());
    if (sb->service[0])
        json_object_set_new(o, "service", json_string(sb->service));
    return o;
}

/* A save between its checks (HTTP thread) and its reply (HTTP thread again), run on a
 * save worker (saveq) while the connection is suspended. */
struct save_job {
    struct saveq_job job; /* first: a saveq_job * is a save_job * */
    struct http_req *r;
    struct precond if_match;
    struct store_saved_by sb;
    struct store_save_req req;
    struct store_save_result res;
    struct roomdoc_stats stats;
    char *doc;
    enum store_status st;
    bool no_store;       /* the database could not be opened */
    bool precond_failed; /* If-Match failed before the save (st: a store error, or OK) */
};

static void save_job_free(void *p)
{
    struct save_job *j = p;
    if (j)
        free(j->doc);
    free(j);
}

/* The blocking part: open the thread's store, If-Match, the durable save. */
static void save_run(struct save_job *j)
{
    struct store *s = NULL;
    int64_t if_match = -1;
    if (clock_mono_ns() >= j->req.deadline_ns) { /* waited its bound for a save worker */
        j->st = STORE_BUSY;
        return;
    }
    if (dbpool_get(&s) != STORE_OK) {
        j->no_store = true;
        return;
    }
    if (!if_match_of(&j->if_match, s, j->r->room_id, &if_match, &j->st)) {
        j->precond_failed = true;
        dbpool_put(s);
        return;
    }
    j->req.if_match = if_match;
    j->st = store_room_save(s, &j->req, &j->res);
    dbpool_put(s);
}

/* After MHD_resume_connection the library may call the handler again and free j: what
 * follows it reads nothing of j. */
static void save_resume(struct save_job *j)
{
    struct server *srv = j->r->srv;
    MHD_resume_connection(j->r->conn);
    atomic_fetch_sub(&srv->saves_off_thread, 1);
}

/* On the group-commit writer's thread, once the queued save is answered. */
static void save_done(void *arg, enum store_status st)
{
    struct save_job *j = arg;
    j->st = st;
    save_resume(j);
}

/* Queues the save on the group-commit writer itself (the connection suspended), which
 * resumes the connection when it is durable: no save worker in between.  Only on SQLite
 * (a group store; its pool's connections are the thread's own, never waited for) and for
 * an If-Match that needs no query (none, or one version); false: not queued. */
static bool save_queue(struct http_req *r, struct save_job *j)
{
    struct store *s = NULL;
    enum store_status st;
    bool queued;
    if (store_backend_of(r->srv->db_path) != STORE_BACKEND_SQLITE ||
        if_match_needs_read(&j->if_match))
        return false;
    if (dbpool_get(&s) != STORE_OK)
        return false; /* a save worker answers it */
    if (!if_match_of(&j->if_match, s, r->room_id, &j->req.if_match, &st)) { /* (no read) */
        dbpool_put(s);
        return false;
    }
    queued = store_group_save_async(s, &j->req, &j->res, save_done, j);
    dbpool_put(s);
    return queued;
}

static void save_run_job(struct saveq_job *job)
{
    struct save_job *j = (struct save_job *)job;
    save_run(j);
    save_resume(j); /* the library calls the handler again */
}

/* Runs the save off this HTTP thread, its connection suspended: on the group-commit writer
 * or a save worker.  False when neither (no workers, or the server is stopping: http_stop
 * waits for every save counted here before it frees the workers and the daemon). */
static bool save_off_thread(struct http_req *r, struct save_job *j)
{
    struct server *srv = r->srv;
    if (!srv->saveq)
        return false;
    atomic_fetch_add(&srv->saves_off_thread, 1); /* before the check: see http_stop */
    if (atomic_load(&srv->saves_closed)) {
        atomic_fetch_sub(&srv->saves_off_thread, 1);
        return false;
    }
    MHD_suspend_connection(r->conn); /* first: it may be resumed as soon as it is queued */
    if (save_queue(r, j) || saveq_submit(srv->saveq, &j->job))
        return true;
    MHD_resume_connection(r->conn);
    atomic_fetch_sub(&srv->saves_off_thread, 1);
    return false;
}

static enum MHD_Result save_reply(struct http_req *r, struct save_job *j)
{
    char etag[ETAG_MAX], location[LOCATION_MAX], saved_at[CLOCK_RFC3339_LEN];
    if (j->no_store)
        return reply_no_database(r);
    if (j->precond_failed)
        return j->st ? reply_store_error(r, j->st) : reply_precondition_failed(r);
    if (j->st != STORE_OK)
        return reply_store_error(r, j->st);
    metrics_save(j->res.created, j->req.doc_len);
    clock_rfc3339(j->req.saved_at_ms, saved_at);
    precond_etag(j->res.version, etag, sizeof etag);
    snprintf(location, sizeof location, "/rooms/%s/state", r->room_id);
    const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, etag, MHD_HTTP_HEADER_LOCATION, location, NULL};
    const struct roomdoc_stats *st = &j->stats;
    json_t *body = json_pack("{s:s, s:I, s:s, s:I, s:{s:I, s:I, s:I}}", "room_id", r->room_id,
                             "version", (json_int_t)j->res.version, "saved_at", saved_at,
                             "objects_saved", (json_int_t)st->objects_saved, "dropped",
                             "transient_held", (json_int_t)st->dropped_transient_held,
                             "placed_room", (json_int_t)st->dropped_placed_room,
                             "non_durable_properties", (json_int_t)st->non_durable_properties);
    return reply_json(r, j->res.created ? MHD_HTTP_CREATED : MHD_HTTP_OK, body, hdrs);
}

enum MHD_Result h_save_post(struct http_req *r)
{
    struct roomdoc_errors *errs = NULL;
    struct save_job *j = NULL;
    json_t *stored = NULL;
    char detail[128];
    enum MHD_Result ret = MHD_NO;

    if (r->handler_state) /* resumed: the save has run */
        return save_reply(r, r->handler_state);
    errs = calloc(1, sizeof *errs);
    j = calloc(1, sizeof *j);
    if (!errs || !j) {
        ret = reply_problem(r, REPLY_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    /* the fast path (http.c) already checked the document and built what is stored */
    enum roomdoc_result dr = ROOMDOC_OK;
    if (r->doc) {
        j->doc = r->doc;
        j->req.doc_len = r->doc_len;
        r->doc = NULL;
        j->stats = r->doc_stats;
    } else {
        /* r->json is not used after this call: the in-place filter may change it */
        dr = roomdoc_filter_in_place(r->json, &r->srv->limits, &stored, &j->stats, errs);
    }
    if (dr == ROOMDOC_INVALID) {
        json_t *list = json_array();
        for (size_t i = 0; i < errs->count; i++)
            json_array_append_new(list, json_pack("{s:s, s:s}", "path", errs->items[i].path,
                                                  "message", errs->items[i].message));
        if (errs->total > errs->count)
            snprintf(detail, sizeof detail, "%zu problems in the room document (first %zu listed)",
                     errs->total, errs->count);
        else
            snprintf(detail, sizeof detail, "%zu problem%s in the room document", errs->total,
                     errs->total == 1 ? "" : "s");
        ret = reply_problem(r, REPLY_INVALID_DOCUMENT, detail, json_pack("{s:o}", "errors", list),
                            NULL);
        goto out;
    }
    if (dr != ROOMDOC_OK || (!stored && !j->doc)) {
        ret = reply_problem(r, REPLY_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    if (!j->doc) {
        j->doc = json_dumps(stored, JSON_COMPACT);
        j->req.doc_len = j->doc ? strlen(j->doc) : 0;
    }
    if (!j->doc) {
        ret = reply_problem(r, REPLY_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    j->r = r;
    j->job.run = save_run_job;
    precond_parse(http_header(r, MHD_HTTP_HEADER_IF_MATCH), false, &j->if_match);
    snprintf(j->sb.user_id, sizeof j->sb.user_id, "%s", r->id.user_id);
    snprintf(j->sb.username, sizeof j->sb.username, "%s", r->id.username);
    snprintf(j->sb.service, sizeof j->sb.service, "%s", r->id.service);
    j->req.room_id = r->room_id;
    j->req.doc = j->doc;
    j->req.saved_at_ms = clock_wall_ms();
    j->req.saved_by = &j->sb;
    j->req.objects_saved = (int64_t)j->stats.objects_saved;
    j->req.history_keep = r->srv->history_keep;
    j->req.deadline_ns = clock_mono_ns() + (int64_t)r->srv->db_lock_wait_ms * 1000000;
    r->handler_state = j;
    r->handler_state_free = save_job_free;
    j = NULL; /* r owns it now */
    struct save_job *job = r->handler_state;
    if (save_off_thread(r, job)) {
        ret = MHD_YES;
        goto out;
    }
    save_run(job); /* on this thread */
    ret = save_reply(r, job);
out:
    json_decref(stored);
    save_job_free(j);
    free(errs);
    return ret;
}

/* The GET body: the envelope's members, then the stored document's members, without
 * re-encoding the document: {"room_id":..,"saved_by":{..}, + "manifests":..,"objects":[..]}.
 * Built around the document in its allocation (the store leaves STORE_DOC_HEADROOM bytes in
 * front of it), so the document is not copied; a copy only if the envelope does not fit. */
static struct cache_body *state_body(const char *room_id, struct store_state *st)
{
    char saved_at[CLOCK_RFC3339_LEN];
    char *env = NULL, *out = NULL;
    struct cache_body *b = NULL;
    clock_rfc3339(st->saved_at_ms, saved_at);
    json_t *e =
        json_pack("{s:s, s:I, s:s, s:o}", "room_id", room_id, "version", (json_int_t)st->version,
                  "saved_at", saved_at, "saved_by", saved_by_json(&st->saved_by));
    env = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    const char *inner = st->doc;
    size_t inner_len = st->doc_len;
    while (inner_len && (*inner == ' ' || *inner == '\n' || *inner == '\t' || *inner == '\r')) {
        inner++;
        inner_len--;
    }
    if (!env || !inner_len || *inner != '{') {
        if (env)
            log_bug("stored document of room %s is not a JSON object", room_id);
        goto out;
    }
    inner++; /* past '{' */
    inner_len--;
    size_t el = strlen(env) - 1; /* without the closing '}' */
    size_t k = 0;
    while (k < inner_len && (inner[k] == ' ' || inner[k] == '\n' || inner[k] == '\t'))
        k++;
    bool empty = k < inner_len && inner[k] == '}';
    size_t head = el + !empty;
    if ((size_t)(inner - st->doc) + STORE_DOC_HEADROOM >= head) {
        char *start = (char *)inner - head;
        memcpy(start, env, el);
        if (!empty)
            start[el] = ',';
        b = cache_body_adopt(store_state_take_doc(st), start, head + inner_len);
        goto out;
    }
    b = cache_body_new(head + inner_len, &out);
    if (!b)
        goto out;
    memcpy(out, env, el);
    size_t n = el;
    if (!empty)
        out[n++] = ',';
    memcpy(out + n, inner, inner_len);
out:
    free(env);
    return b;
}

/* 200 with the state st (kept in the body cache when current, confirmed at *mark when
 * there is one). */
static enum MHD_Result state_reply(struct http_req *r, struct store_state *st, bool current,
                                   const struct store_watch_mark *mark, const char **hdrs)
{
    struct cache_body *b = state_body(r->room_id, st);
    if (!b)
        return reply_problem(r, REPLY_INTERNAL, "could not build the state", NULL, NULL);
    const struct cache_body *cb = b;
    if (current)
        cb = cache_insert(r->srv->cache, r->room_id, st->version, b, mark);
    return reply_shared(r, MHD_HTTP_OK, "application/json", cb->bytes, cb->len, cache_body_release,
                        (void *)cb, hdrs);
}

/* 200 with the cached body cb of version, which the store just said is current (after mark,
 * when there is one: the cache then knows it without asking until the next commit). */
static enum MHD_Result reply_confirmed(struct http_req *r, const struct cache_body *cb,
                                       int64_t version, const struct store_watch_mark *mark,
                                       const char **hdrs)
{
    metrics_cache_confirmed(true);
    if (mark)
        cache_confirm(r->srv->cache, r->room_id, version, mark);
    return reply_shared(r, MHD_HTTP_OK, "application/json", cb->bytes, cb->len, cache_body_release,
                        (void *)cb, hdrs);
}

/* The cached body of the current version, or 304 for it, when nothing was committed to the
 * database since the cache last confirmed that version current (store_watch.h): no
 * database connection, no query.  False when the store must be asked. */
static bool state_get_unchanged(struct http_req *r, const struct precond *inm,
                                const struct store_watch_mark *mark, enum MHD_Result *ret)
{
    int64_t version = 0;
    const struct cache_body *cb = cache_get_fresh(r->srv->cache, r->room_id, mark, &version);
    if (!cb)
        return false;
    metrics_cache_confirmed(false);
    char etag[ETAG_MAX];
    precond_etag(version, etag, sizeof etag);
    const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, etag, NULL};
    if (inm->kind != PRECOND_NONE && precond_matches(inm, version)) {
        cache_body_release((void *)cb);
        *ret = reply_empty(r, MHD_HTTP_NOT_MODIFIED, hdrs);
    } else {
        metrics_cache(true);
        *ret = reply_shared(r, MHD_HTTP_OK, "application/json", cb->bytes, cb->len,
                            cache_body_release, (void *)cb, hdrs);
    }
    return true;
}

/* mark: the database's, read before any query of this request (NULL: unknown). */
static enum MHD_Result state_get(struct http_req *r, struct store *s, int64_t want,
                                 const struct precond *inm, const struct store_watch_mark *mark)
{
    struct store_state st = {0};
    const struct cache_body *cb = NULL;
    char etag[ETAG_MAX];
    int64_t cur = 0;
    enum store_status ss;
    enum MHD_Result ret = MHD_NO;

    if (want == 0 && inm->kind == PRECOND_NONE) {
        /* One read of the store: the current version, and its document unless the cache
         * holds that version's body (then the document is not read). */
        int64_t known = 0;
        cb = cache_get_any(r->srv->cache, r->room_id, &known);
        ss = store_room_get_current(s, r->room_id, cb ? known : 0, &st);
        bool hit = ss == STORE_OK && cb && st.version == known;
        if (ss == STORE_OK)
            metrics_cache(hit);
        if (!hit) {
            cache_body_release((void *)cb);
            cb = NULL;
        }
        if (ss != STORE_OK)
            return reply_store_error(r, ss);
        precond_etag(st.version, etag, sizeof etag);
        const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, etag, NULL};
        if (hit)
            return reply_confirmed(r, cb, st.version, mark, hdrs);
        ret = state_reply(r, &st, true, mark, hdrs);
        store_state_clear(&st);
        return ret;
    }
    if (want == 0) {
        ss = store_room_version(s, r->room_id, &cur);
        if (ss != STORE_OK)
            return reply_store_error(r, ss);
        precond_etag(cur, etag, sizeof etag);
        const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, etag, NULL};
        if (inm->kind != PRECOND_NONE && precond_matches(inm, cur))
            return reply_empty(r, MHD_HTTP_NOT_MODIFIED, hdrs);
        cb = cache_get(r->srv->cache, r->room_id, cur);
        metrics_cache(cb != NULL);
        if (cb)
            return reply_confirmed(r, cb, cur, mark, hdrs);
    }
    ss = store_room_get(s, r->room_id, want, &st);
    if (ss != STORE_OK) {
        ret = reply_store_error(r, ss);
        goto out;
    }
    precond_etag(st.version, etag, sizeof etag);
    const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, etag, NULL};
    if (inm->kind != PRECOND_NONE && precond_matches(inm, st.version)) {
        ret = reply_empty(r, MHD_HTTP_NOT_MODIFIED, hdrs);
        goto out;
    }
    /* a version read by number (want) is not known to be current */
    ret = state_reply(r, &st, want == 0, want == 0 ? mark : NULL, hdrs);
out:
    store_state_clear(&st);
    return ret;
}

enum MHD_Result h_state_get(struct http_req *r)
{
    struct store *s = NULL;
    struct precond inm;
    struct store_watch_mark mark;
    enum MHD_Result ret;
    int64_t want = http_query_positive(r, "version");
    if (want < 0)
        return reply_problem(r, REPLY_BAD_REQUEST, "version must be a positive integer", NULL,
                             NULL);
    precond_parse(http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), true, &inm);
    /* the mark is read before the store is: a commit after it makes the next mark differ */
    bool marked = want == 0 && store_watch_mark(r->srv->watch, &mark);
    if (marked && state_get_unchanged(r, &inm, &mark, &ret))
        return ret;
    if (dbpool_get(&s) != STORE_OK)
        return reply_no_database(r);
    ret = state_get(r, s, want, &inm, marked ? &mark : NULL);
    dbpool_put(s);
    return ret;
}

static enum MHD_Result state_delete(struct http_req *r, struct store *s)
{
    int64_t if_match;
    enum store_status st;
    if (!if_match_version(r, s, &if_match, &st))
        return st ? reply_store_error(r, st) : reply_precondition_failed(r);
    st = store_room_delete(s, r->room_id, if_match);
    if (st != STORE_OK)
        return reply_store_error(r, st);
    return reply_empty(r, MHD_HTTP_NO_CONTENT, NULL);
}

enum MHD_Result h_state_delete(struct http_req *r)
{
    return reply_with_store(r, state_delete);
}

static enum MHD_Result versions_get(struct http_req *r, struct store *s)
{
    struct store_version_info *vs = NULL;
    size_t n = 0;
    char saved_at[CLOCK_RFC3339_LEN];
    enum store_status st = store_room_versions(s, r->room_id, &vs, &n);
    if (st == STORE_OK && n == 0)
        st = STORE_NOT_FOUND;
    if (st != STORE_OK) {
        free(vs);
        return reply_store_error(r, st);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        clock_rfc3339(vs[i].saved_at_ms, saved_at);
        json_array_append_new(list, json_pack("{s:I, s:s, s:o, s:I, s:I}", "version",
                                              (json_int_t)vs[i].version, "saved_at", saved_at,
                                              "saved_by", saved_by_json(&vs[i].saved_by),
                                              "objects_saved", (json_int_t)vs[i].objects_saved,
                                              "bytes", (json_int_t)vs[i].bytes));
    }
    free(vs);
    return reply_json(r, MHD_HTTP_OK,
                      json_pack("{s:s, s:o}", "room_id", r->room_id, "versions", list), NULL);
}

enum MHD_Result h_versions_get(struct http_req *r)
{
    return reply_with_store(r, versions_get);
}
