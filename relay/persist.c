/* persist.c — worker-thread client of roomstate-server for the relay. */
#include "relay/persist.h"

#include "common/auth.h"
#include "common/clock.h"
#include "common/grow.h"
#include "common/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
    struct job *next;
    enum persist_kind kind;
    uint64_t tag;
    char room_id[129];
    char acting_user[37];
    int64_t fence;
    char *doc;
    size_t doc_len;
    struct persist_result res;
};

struct persist {
    char *url;
    char *key;
    char *svc;
    long timeout_ms;
    void (*wake)(void *);
    void *wake_ud;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct job *todo_head, *todo_tail;
    struct job *done_head, *done_tail;
    size_t pending;
};

struct body_buf {
    struct gbuf b; /* at most PERSIST_MAX_RESPONSE_BYTES */
    bool overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body_buf *b = ud;
    size_t n = size * nmemb; /* libcurl: size is always 1 */
    int rc = gbuf_append(&b->b, ptr, n);
    if (rc != 0) {
        b->overflow = rc == GROW_OVER_CAP;
        return 0; /* aborts the transfer */
    }
    return n;
}

static void run_job(struct persist *p, CURL *curl, struct job *j)
{
    char url[512], auth[AUTH_MAX_TOKEN_BYTES + 32];
    struct body_buf body = {.b = GBUF_INIT(PERSIST_MAX_RESPONSE_BYTES)};
    struct curl_slist *hdrs = NULL;
    int64_t now = (int64_t)time(NULL);
    char *tok =
        auth_mint_service(p->key, p->svc, j->acting_user[0] ? j->acting_user : NULL, now, now + 60);
    j->res.kind = j->kind;
    j->res.tag = j->tag;
    j->res.fence = j->fence;
    memcpy(j->res.room_id, j->room_id, sizeof j->room_id);
    if (!tok) {
        snprintf(j->res.error, sizeof j->res.error, "could not mint a service token");
        return;
    }
    static const char *const paths[] = {"state",      "save",       "lease",     "lease",
                                        "checkpoint", "checkpoint", "checkpoint"};
    static const char *const methods[] = {"GET", "POST", "POST", "DELETE", "GET", "PUT", "DELETE"};
    bool fenced = j->kind == PERSIST_LEASE_FREE || j->kind == PERSIST_CKPT_PUT ||
                  j->kind == PERSIST_CKPT_DELETE;
    bool has_body =
        j->kind == PERSIST_SAVE || j->kind == PERSIST_LEASE || j->kind == PERSIST_CKPT_PUT;
    if (fenced)
        snprintf(url, sizeof url, "%s/rooms/%s/%s?fence=%lld", p->url, j->room_id, paths[j->kind],
                 (long long)j->fence);
    else
        snprintf(url, sizeof url, "%s/rooms/%s/%s", p->url, j->room_id, paths[j->kind]);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    free(tok);
    hdrs = curl_slist_append(hdrs, auth);
    if (has_body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (has_body) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, j->doc ? j->doc : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->doc_len);
    }
    if (strcmp(methods[j->kind], "GET") != 0 && strcmp(methods[j->kind], "POST") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, methods[j->kind]);
    int64_t t0 = clock_mono_ns();
    CURLcode cc = curl_easy_perform(curl);
    j->res.elapsed_us = (clock_mono_ns() - t0) / 1000;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &j->res.http_status);
        j->res.body = body.b.data;
        j->res.body_len = body.b.len;
        body.b.data = NULL;
    } else {
        snprintf(j->res.error, sizeof j->res.error, "%s",
                 body.overflow ? "response too large" : curl_easy_strerror(cc));
    }
    gbuf_free(&body.b);
    curl_slist_free_all(hdrs);
}

static void *worker(void *arg)
{
    struct persist *p = arg;
    pthread_setname_np(pthread_self(), "rs-persist");
    CURL *curl = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && !p->todo_head)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        struct job *j = p->todo_head;
        p->todo_head = j->next;
        if (!p->todo_head)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        if (curl)
            run_job(p, curl, j);
        else
            snprintf(j->res.error, sizeof j->res.error, "libcurl could not be initialised");
        free(j->doc);
        j->doc = NULL;

        pthread_mutex_lock(&p->mu);
        j->next = NULL;
        if (p->done_tail)
            p->done_tail->next = j;
        else
            p->done_head = j;
        p->done_tail = j;
        pthread_mutex_unlock(&p->mu);
        if (p->wake)
            p->wake(p->wake_ud);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct persist *persist_new(const struct persist_config *cfg, void (*wake)(void *ud), void *ud)
{
    if (!cfg || !cfg->server_url || !*cfg->server_url || !cfg->service_key || !*cfg->service_key)
        return NULL;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct persist *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->url = strdup(cfg->server_url);
    p->key = strdup(cfg->service_key);
    p->svc =
        strdup(cfg->service_name && *cfg->service_name ? cfg->service_name : "roomstate-relay");
    p->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    p->wake = wake;
    p->wake_ud = ud;
    if (!p->url || !p->key || !p->svc)
        goto fail;
    size_t ul = strlen(p->url);
    while (ul > 0 && p->url[ul - 1] == '/')
        p->url[--ul] = '\0';
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        goto fail;
    }
    return p;
fail:
    free(p->url);
    free(p->key);
    free(p->svc);
    free(p);
    return NULL;
}

static void free_list(struct job *j)
{
    while (j) {
        struct job *n = j->next;
        free(j->doc);
        persist_result_clear(&j->res);
        free(j);
        j = n;
    }
}

void persist_free(struct persist *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    free_list(p->todo_head);
    free_list(p->done_head);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->url);
    free(p->key);
    free(p->svc);
    free(p);
}

static int submit(struct persist *p, struct job *j)
{
    pthread_mutex_lock(&p->mu);
    if (p->pending >= PERSIST_MAX_PENDING) {
        pthread_mutex_unlock(&p->mu);
        free(j->doc);
        free(j);
        return -1;
    }
    p->pending++;
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo_head = j;
    p->todo_tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static struct job *job_new(enum persist_kind kind, const char *room_id, uint64_t tag)
{
    size_t n = strlen(room_id);
    if (n == 0 || n >= sizeof((struct job *)0)->room_id)
        return NULL;
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->tag = tag;
    memcpy(j->room_id, room_id, n + 1);
    return j;
}

int persist_submit_load(struct persist *p, const char *room_id, uint64_t tag)
{
    struct job *j = job_new(PERSIST_LOAD, room_id, tag);
    return j ? submit(p, j) : -1;
}

int persist_submit_save(struct persist *p, const char *room_id, char *doc_steal, size_t len,
                        const char *acting_user, uint64_t tag)
{
    struct job *j = job_new(PERSIST_SAVE, room_id, tag);
    if (!j) {
        free(doc_steal);
        return -1;
    }
    j->doc = doc_steal;
    j->doc_len = len;
    if (acting_user && strlen(acting_user) < sizeof j->acting_user)
        memcpy(j->acting_user, acting_user, strlen(acting_user) + 1);
    return submit(p, j);
}

int persist_submit(struct persist *p, enum persist_kind kind, const char *room_id, int64_t fence,
                   char *body_steal, size_t len, uint64_t tag)
{
    struct job *j = (unsigned)kind <= PERSIST_CKPT_DELETE ? job_new(kind, room_id, tag) : NULL;
    if (!j) {
        free(body_steal);
        return -1;
    }
    j->fence = fence;
    j->doc = body_steal;
    j->doc_len = body_steal ? len : 0;
    return submit(p, j);
}

bool persist_poll(struct persist *p, struct persist_result *out)
{
    pthread_mutex_lock(&p->mu);
    struct job *j = p->done_head;
    if (j) {
        p->done_head = j->next;
        if (!p->done_head)
            p->done_tail = NULL;
        p->pending--;
    }
    pthread_mutex_unlock(&p->mu);
    if (!j)
        return false;
    *out = j->res;
    free(j);
    return true;
}

void persist_result_clear(struct persist_result *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

size_t persist_pending(struct persist *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}
