/* dbpool.c — thread-local SQLite stores, or a bounded shared pool of PostgreSQL
 * connections (see dbpool.h). */
#include "server/dbpool.h"

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define DBPOOL_MAX 1024 /* stores ever opened; more get an error */

static const char *pool_db;
static bool pool_shared; /* PostgreSQL: borrowed and given back */
static unsigned pool_size;
static struct store_options pool_opts;
static _Thread_local struct store *tl_store;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_free_cond = PTHREAD_COND_INITIALIZER;
static struct store *pool[DBPOOL_MAX]; /* every store opened */
static size_t pool_n;
static struct store *idle[DBPOOL_MAX]; /* shared mode: the ones not borrowed */
static size_t idle_n;
static size_t opening; /* shared mode: being opened, counted against pool_size */

void dbpool_init(const char *db, unsigned pg_size, const struct store_options *opts)
{
    pool_db = db;
    if (opts)
        pool_opts = *opts;
    else
        store_options_default(&pool_opts);
    pool_shared = store_backend_of(db) == STORE_BACKEND_POSTGRES;
    pool_size = pg_size < 1 ? 1 : (pg_size > DBPOOL_MAX ? DBPOOL_MAX : pg_size);
}

static enum store_status open_store(struct store **s)
{
    char err[768] = "";
    enum store_status st = store_open_opts(pool_db, &pool_opts, s, err, sizeof err);
    if (st != STORE_OK)
        log_error("cannot open the database: %s (%s)", store_status_name(st), err);
    return st;
}

static enum store_status get_shared(struct store **out)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DBPOOL_WAIT_MS / 1000;
    pthread_mutex_lock(&pool_lock);
    while (idle_n == 0 && pool_n + opening >= pool_size) {
        if (pthread_cond_timedwait(&pool_free_cond, &pool_lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool_lock);
            log_warn("all %u database connections stayed in use for %d ms", pool_size,
                     DBPOOL_WAIT_MS);
            return STORE_BUSY;
        }
    }
    if (idle_n > 0) {
        *out = idle[--idle_n];
        pthread_mutex_unlock(&pool_lock);
        return STORE_OK;
    }
    opening++;
    pthread_mutex_unlock(&pool_lock);
    struct store *s = NULL;
    enum store_status st = open_store(&s);
    pthread_mutex_lock(&pool_lock);
    opening--;
    if (st == STORE_OK)
        pool[pool_n++] = s;
    else
        pthread_cond_signal(&pool_free_cond); /* the slot is free again */
    pthread_mutex_unlock(&pool_lock);
    *out = s;
    return st;
}

enum store_status dbpool_get(struct store **out)
{
    struct store *s = NULL;
    *out = NULL;
    if (pool_shared)
        return get_shared(out);
    if (tl_store) {
        *out = tl_store;
        return STORE_OK;
    }
    enum store_status st = open_store(&s);
    if (st != STORE_OK)
        return st;
    pthread_mutex_lock(&pool_lock);
    if (pool_n < DBPOOL_MAX) {
        pool[pool_n++] = s;
        tl_store = s;
    }
    pthread_mutex_unlock(&pool_lock);
    if (!tl_store) {
        log_bug("more than %d worker threads opened the database", DBPOOL_MAX);
        store_close(s);
        return STORE_ERROR;
    }
    *out = s;
    return STORE_OK;
}

void dbpool_put(struct store *s)
{
    if (!s || !pool_shared)
        return;
    pthread_mutex_lock(&pool_lock);
    idle[idle_n++] = s;
    pthread_cond_signal(&pool_free_cond);
    pthread_mutex_unlock(&pool_lock);
}

void dbpool_close_all(void)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < pool_n; i++)
        store_close(pool[i]);
    pool_n = 0;
    idle_n = 0;
    pthread_mutex_unlock(&pool_lock);
    tl_store = NULL;
}
