/* saveq.c — a fixed pool of worker threads over one FIFO of jobs (see saveq.h). */
#include "server/saveq.h"

#include "common/log.h"

#include <pthread.h>
#include <stdlib.h>

struct saveq {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct saveq_job *head, *tail;
    bool stop;
    unsigned n;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    struct saveq *q = arg;
    pthread_setname_np(pthread_self(), "rs-save-worker"); /* top -H, perf, gdb */
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->wake, &q->mu);
        struct saveq_job *j = q->head;
        if (!j)
            break; /* stopping, nothing queued */
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        j->run(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

struct saveq *saveq_new(unsigned workers)
{
    struct saveq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->threads = calloc(workers ? workers : 1, sizeof *q->threads);
    if (!q->threads) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* saves need little stack */
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&q->threads[q->n], &attr, worker_main, q) != 0) {
            log_warn("save workers: started %u of %u", q->n, workers);
            break;
        }
        q->n++;
    }
    pthread_attr_destroy(&attr);
    if (q->n == 0) {
        saveq_free(q);
        return NULL;
    }
    return q;
}

bool saveq_submit(struct saveq *q, struct saveq_job *job)
{
    bool ok = false;
    job->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (!q->stop) {
        if (q->tail)
            q->tail->next = job;
        else
            q->head = job;
        q->tail = job;
        pthread_cond_signal(&q->wake);
        ok = true;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void saveq_free(struct saveq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->n; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->mu);
    free(q->threads);
    free(q);
}
