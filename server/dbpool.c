/* dbpool.c — thread-local stores with a registry for closing them at shutdown. */
#include "server/dbpool.h"

#include "common/log.h"

#include <pthread.h>
#include <stdlib.h>

#define DBPOOL_MAX 1024 /* stores ever opened; more threads than this get an error */

static const char *pool_path;
static struct store_options pool_opts;
static _Thread_local struct store *tl_store;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *pool[DBPOOL_MAX];
static size_t pool_n;

void dbpool_init(const char *db_path, const struct store_options *opts)
{
    pool_path = db_path;
    if (opts)
        pool_opts = *opts;
    else
        store_options_default(&pool_opts);
}

enum store_status dbpool_get(struct store **out)
{
    char err[512] = "";
    struct store *s = NULL;
    enum store_status st = STORE_OK;
    *out = NULL;
    if (tl_store) {
        *out = tl_store;
        return STORE_OK;
    }
    st = store_open_opts(pool_path, &pool_opts, &s, err, sizeof err);
    if (st != STORE_OK) {
        log_error("cannot open database %s: %s (%s)", pool_path, store_status_name(st), err);
        return st;
    }
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

void dbpool_close_all(void)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < pool_n; i++)
        store_close(pool[i]);
    pool_n = 0;
    pthread_mutex_unlock(&pool_lock);
    tl_store = NULL;
}
