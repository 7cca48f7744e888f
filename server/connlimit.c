/* connlimit.c — connection admission by address and in all, and the request-head
 * deadline (see connlimit.h). */
#include "server/connlimit.h"

#include "common/clock.h"
#include "common/log.h"
#include "server/metrics.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

/* A client address as counted: IPv4 (IPv4-mapped IPv6 too) or an IPv6 /64 prefix. */
struct addr_key {
    uint8_t family; /* 0: not counted per address (e.g. a Unix socket), 4 or 6 */
    uint8_t bytes[8];
};

struct slot {
    struct addr_key key; /* family 0: the slot is free */
    uint32_t count;
};

struct conn_rec {
    struct conn_rec *prev, *next;
    struct connlimit *cl;
    struct addr_key key;
    int fd;
    _Atomic int64_t since_ms;    /* monotonic: accepted, or the previous response sent */
    _Atomic int64_t deadline_ms; /* monotonic; 0: nothing awaited */
    atomic_bool in_body;         /* the head is in, the rest of the request awaited */
    bool cut;                    /* the sweeper shut its socket down */
};

struct connlimit {
    struct connlimit_config cfg;
    pthread_mutex_t mu; /* guards everything below, and keeps each rec's fd open */
    struct slot *slots;
    size_t nslots; /* a power of two, at least twice max_connections */
    uint64_t seed;
    unsigned open;         /* slots taken (admitted, not yet released) */
    struct conn_rec *recs; /* every connection started and not closed */
    pthread_cond_t wake;
    bool stop;
    bool sweeping; /* the sweeper thread runs */
    pthread_t sweeper;
};

/* A slot admitted by the accept policy and not yet claimed by the start notification.  The
 * library accepts, asks the policy and starts the connection on one thread, in that order;
 * when it drops the connection in between (out of memory), the slot is given back at that
 * thread's next accept. */
static _Thread_local struct {
    struct connlimit *cl;
    struct addr_key key;
} pending;

static int64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

static void key_of(const struct sockaddr *addr, socklen_t len, struct addr_key *k)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(k, 0, sizeof *k);
    if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        k->family = 4;
        memcpy(k->bytes, &a->sin_addr, 4);
    } else if (addr && addr->sa_family == AF_INET6 &&
               len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        const uint8_t *b = a->sin6_addr.s6_addr;
        if (!memcmp(b, v4mapped, sizeof v4mapped)) {
            k->family = 4;
            memcpy(k->bytes, b + 12, 4);
        } else {
            k->family = 6;
            memcpy(k->bytes, b, 8); /* the /64 prefix */
        }
    }
}

static bool key_eq(const struct addr_key *a, const struct addr_key *b)
{
    return a->family == b->family && !memcmp(a->bytes, b->bytes, sizeof a->bytes);
}

/* Seeded, so that no client can choose addresses that collide (splitmix64 finaliser). */
static size_t key_hash(const struct connlimit *cl, const struct addr_key *k)
{
    uint64_t x;
    memcpy(&x, k->bytes, sizeof x);
    x ^= cl->seed ^ ((uint64_t)k->family << 56);
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x & (cl->nslots - 1);
}

/* The slot of k, or the free slot where it would go (linear probing; the table is never
 * more than half full). */
static struct slot *slot_find(struct connlimit *cl, const struct addr_key *k)
{
    size_t i = key_hash(cl, k);
    while (cl->slots[i].key.family && !key_eq(&cl->slots[i].key, k))
        i = (i + 1) & (cl->nslots - 1);
    return &cl->slots[i];
}

/* Frees slot s and moves later entries of its probe run back (no tombstones). */
static void slot_delete(struct connlimit *cl, struct slot *s)
{
    size_t mask = cl->nslots - 1;
    size_t hole = (size_t)(s - cl->slots);
    size_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        if (!cl->slots[i].key.family)
            break;
        size_t home = key_hash(cl, &cl->slots[i].key);
        /* the entry at i may fill the hole unless its home lies cyclically in (hole, i] */
        bool home_after_hole = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_after_hole) {
            cl->slots[hole] = cl->slots[i];
            hole = i;
        }
    }
    memset(&cl->slots[hole], 0, sizeof cl->slots[hole]);
}

/* Under cl->mu: takes a slot for k without asking. */
static void take_locked(struct connlimit *cl, const struct addr_key *k)
{
    cl->open++;
    if (!k->family || !cl->cfg.max_per_ip)
        return;
    struct slot *s = slot_find(cl, k);
    if (!s->key.family)
        s->key = *k;
    s->count++;
}

/* Under cl->mu. */
static enum connlimit_verdict admit_locked(struct connlimit *cl, const struct addr_key *k)
{
    if (cl->open >= cl->cfg.max_connections)
        return CONNLIMIT_REFUSE_TOTAL;
    if (k->family && cl->cfg.max_per_ip) {
        const struct slot *s = slot_find(cl, k);
        if (s->key.family && s->count >= cl->cfg.max_per_ip)
            return CONNLIMIT_REFUSE_IP;
    }
    take_locked(cl, k);
    return CONNLIMIT_ADMIT;
}

/* Under cl->mu. */
static void release_locked(struct connlimit *cl, const struct addr_key *k)
{
    if (cl->open > 0)
        cl->open--;
    if (!k->family || !cl->cfg.max_per_ip)
        return;
    struct slot *s = slot_find(cl, k);
    if (!s->key.family) {
        log_bug("connection slot released for an address that holds none");
        return;
    }
    if (--s->count == 0)
        slot_delete(cl, s);
}

static enum connlimit_verdict admit_key(struct connlimit *cl, const struct addr_key *k)
{
    pthread_mutex_lock(&cl->mu);
    enum connlimit_verdict v = admit_locked(cl, k);
    pthread_mutex_unlock(&cl->mu);
    if (v != CONNLIMIT_ADMIT)
        metrics_connection_refused(v == CONNLIMIT_REFUSE_IP);
    return v;
}

static void release_key(struct connlimit *cl, const struct addr_key *k)
{
    pthread_mutex_lock(&cl->mu);
    release_locked(cl, k);
    pthread_mutex_unlock(&cl->mu);
}

enum connlimit_verdict connlimit_admit(struct connlimit *cl, const struct sockaddr *addr,
                                       socklen_t addrlen)
{
    struct addr_key k;
    key_of(addr, addrlen, &k);
    return admit_key(cl, &k);
}

void connlimit_release(struct connlimit *cl, const struct sockaddr *addr, socklen_t addrlen)
{
    struct addr_key k;
    key_of(addr, addrlen, &k);
    release_key(cl, &k);
}

unsigned connlimit_open(struct connlimit *cl)
{
    pthread_mutex_lock(&cl->mu);
    unsigned n = cl->open;
    pthread_mutex_unlock(&cl->mu);
    return n;
}

enum MHD_Result connlimit_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct connlimit *cl = cls;
    if (pending.cl) { /* the previous connection admitted here never started */
        release_key(pending.cl, &pending.key);
        pending.cl = NULL;
    }
    struct addr_key k;
    key_of(addr, addrlen, &k);
    if (admit_key(cl, &k) != CONNLIMIT_ADMIT)
        return MHD_NO;
    pending.cl = cl;
    pending.key = k;
    return MHD_YES;
}

static void on_started(struct connlimit *cl, struct MHD_Connection *conn, void **socket_context)
{
    struct addr_key k;
    if (pending.cl == cl) {
        k = pending.key;
        pending.cl = NULL;
    } else {
        /* not admitted on this thread (never expected): count it all the same, so that
         * its close gives back what it holds */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        key_of(ci ? ci->client_addr : NULL, sizeof(struct sockaddr_in6), &k);
        pthread_mutex_lock(&cl->mu);
        take_locked(cl, &k);
        pthread_mutex_unlock(&cl->mu);
        log_bug("a connection started without admission");
    }
    struct conn_rec *rec = calloc(1, sizeof *rec);
    if (!rec) {
        log_error("out of memory tracking a connection: it is neither counted nor timed");
        release_key(cl, &k);
        return;
    }
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    rec->cl = cl;
    rec->key = k;
    rec->fd = fi ? (int)fi->connect_fd : -1;
    int64_t now = mono_ms();
    atomic_store(&rec->since_ms, now);
    atomic_store(&rec->deadline_ms,
                 cl->cfg.header_timeout_ms ? now + cl->cfg.header_timeout_ms : 0);
    pthread_mutex_lock(&cl->mu);
    rec->next = cl->recs;
    if (cl->recs)
        cl->recs->prev = rec;
    cl->recs = rec;
    pthread_mutex_unlock(&cl->mu);
    *socket_context = rec;
    metrics_connection_opened();
}

static void on_closed(struct connlimit *cl, void **socket_context)
{
    struct conn_rec *rec = *socket_context;
    if (!rec)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&cl->mu);
    if (rec->prev)
        rec->prev->next = rec->next;
    else
        cl->recs = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    release_locked(cl, &rec->key);
    pthread_mutex_unlock(&cl->mu);
    free(rec);
    metrics_connection_closed();
}

void connlimit_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct connlimit *cl = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        on_started(cl, conn, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        on_closed(cl, socket_context);
}

static struct conn_rec *rec_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void connlimit_head_received(struct MHD_Connection *conn)
{
    struct conn_rec *rec = rec_of(conn);
    if (!rec)
        return;
    unsigned t = rec->cl->cfg.request_timeout_ms;
    atomic_store(&rec->in_body, true);
    atomic_store(&rec->deadline_ms, t ? atomic_load(&rec->since_ms) + t : 0);
}

void connlimit_request_received(struct MHD_Connection *conn)
{
    struct conn_rec *rec = rec_of(conn);
    if (rec)
        atomic_store(&rec->deadline_ms, 0);
}

void connlimit_request_done(struct MHD_Connection *conn)
{
    struct conn_rec *rec = rec_of(conn);
    if (!rec)
        return;
    int64_t now = mono_ms();
    unsigned t = rec->cl->cfg.header_timeout_ms;
    atomic_store(&rec->since_ms, now);
    atomic_store(&rec->in_body, false);
    atomic_store(&rec->deadline_ms, t ? now + t : 0);
}

/* Shuts down the sockets of connections past their deadline.  The socket stays open
 * (the library closes it after the close notification, which needs cl->mu): shutting it
 * down under the lock cannot touch a descriptor that was closed and reused. */
static void *sweep(void *arg)
{
    struct connlimit *cl = arg;
    pthread_setname_np(pthread_self(), "rs-conn-sweep");
    unsigned shortest = cl->cfg.header_timeout_ms;
    if (!shortest || (cl->cfg.request_timeout_ms && cl->cfg.request_timeout_ms < shortest))
        shortest = cl->cfg.request_timeout_ms;
    unsigned period_ms = shortest / 4;
    if (period_ms > 250)
        period_ms = 250;
    if (period_ms < 20)
        period_ms = 20;
    pthread_mutex_lock(&cl->mu);
    while (!cl->stop) {
        int64_t now = mono_ms();
        for (struct conn_rec *r = cl->recs; r; r = r->next) {
            int64_t d = atomic_load(&r->deadline_ms);
            if (!d || d > now || r->cut || r->fd < 0)
                continue;
            r->cut = true;
            bool body = atomic_load(&r->in_body);
            if (shutdown(r->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
                log_warn("request deadline: cannot shut a connection down: %s", strerror(errno));
            metrics_connection_timeout(body);
            log_debug("closing a connection whose request %s did not arrive within %u ms",
                      body ? "body" : "head",
                      body ? cl->cfg.request_timeout_ms : cl->cfg.header_timeout_ms);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)period_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&cl->wake, &cl->mu, &ts);
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

struct connlimit *connlimit_new(const struct connlimit_config *cfg)
{
    if (!cfg || cfg->max_connections == 0)
        return NULL;
    struct connlimit *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->cfg = *cfg;
    cl->nslots = 16;
    while (cl->nslots < (size_t)cfg->max_connections * 2)
        cl->nslots *= 2;
    cl->slots = calloc(cl->nslots, sizeof *cl->slots);
    if (getrandom(&cl->seed, sizeof cl->seed, GRND_NONBLOCK) != (ssize_t)sizeof cl->seed)
        cl->seed = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)cl;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int crc = pthread_cond_init(&cl->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (!cl->slots || crc != 0 || pthread_mutex_init(&cl->mu, NULL) != 0) {
        if (crc == 0)
            pthread_cond_destroy(&cl->wake);
        free(cl->slots);
        free(cl);
        return NULL;
    }
    if (cfg->header_timeout_ms || cfg->request_timeout_ms) {
        int rc = pthread_create(&cl->sweeper, NULL, sweep, cl);
        if (rc != 0) {
            log_error("cannot start the request-head deadline thread: %s", strerror(rc));
            pthread_mutex_destroy(&cl->mu);
            pthread_cond_destroy(&cl->wake);
            free(cl->slots);
            free(cl);
            return NULL;
        }
        cl->sweeping = true;
    }
    return cl;
}

void connlimit_free(struct connlimit *cl)
{
    if (!cl)
        return;
    if (cl->sweeping) {
        pthread_mutex_lock(&cl->mu);
        cl->stop = true;
        pthread_cond_signal(&cl->wake);
        pthread_mutex_unlock(&cl->mu);
        pthread_join(cl->sweeper, NULL);
    }
    while (cl->recs) { /* none once the daemon has stopped; freed all the same */
        struct conn_rec *r = cl->recs;
        cl->recs = r->next;
        free(r);
    }
    if (pending.cl == cl)
        pending.cl = NULL;
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->wake);
    free(cl->slots);
    free(cl);
}

uint64_t connlimit_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("cannot read the open-files limit: %s", strerror(errno));
        return 0;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        rlim_t before = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (rl.rlim_cur < before)
            rl.rlim_cur = before;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_info("open-files limit raised from %llu to %llu (the hard limit)",
                     (unsigned long long)before, (unsigned long long)rl.rlim_cur);
        else {
            log_warn("cannot raise the open-files limit from %llu: %s", (unsigned long long)before,
                     strerror(errno));
            rl.rlim_cur = before;
        }
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}
