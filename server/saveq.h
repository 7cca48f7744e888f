/* saveq.h — worker threads that run blocking jobs (durable saves) off the HTTP threads.
 * A save waits for the fsync of the group commit that holds it; run on one of the few
 * HTTP threads it would stall every other connection of that thread and keep at most
 * one save per HTTP thread in flight, so batches could never grow.  The HTTP thread
 * instead suspends the connection and submits the job; a worker runs it (blocking) and
 * the job resumes the connection.  With W workers, up to W saves share a commit. */
#ifndef ROOMSTATE_SAVEQ_H
#define ROOMSTATE_SAVEQ_H

#include <stdbool.h>

struct saveq_job {
    void (*run)(struct saveq_job *job); /* on a worker thread */
    struct saveq_job *next;             /* queue link (saveq's) */
};

struct saveq;

/* Starts workers threads.  NULL when out of memory or no thread could start. */
struct saveq *saveq_new(unsigned workers);

/* Queues job (run once by a worker, in submission order of pick-up).  False when the
 * queue is stopping (the job is not run). */
bool saveq_submit(struct saveq *q, struct saveq_job *job);

/* Runs what is queued, stops and joins the workers, frees q (NULL is fine). */
void saveq_free(struct saveq *q);

#endif
