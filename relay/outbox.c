/* outbox.c — shared encoded messages, frame joining, per-peer frame queues. */
#include "relay/outbox.h"

#include "common/grow.h"

#include <stdlib.h>
#include <string.h>

#include "relay/jsonenc.h"

struct outbox_node {
    struct outbox_node *next;
    struct relay_msg *msg;
};

void msg_pool_init(struct msg_pool *pool, size_t headroom)
{
    memset(pool, 0, sizeof *pool);
    pool->headroom = headroom;
}

void msg_pool_clear(struct msg_pool *pool)
{
    for (unsigned c = 0; c < MSG_POOL_CLASSES; c++) {
        while (pool->free[c]) {
            struct relay_msg *m = pool->free[c];
            pool->free[c] = m->next_free;
            free(m);
        }
        pool->nfree[c] = 0;
    }
}

/* An uninitialized message with room for len text bytes (+ NUL). */
static struct relay_msg *msg_alloc(struct msg_pool *pool, size_t len)
{
    size_t need = pool->headroom + len + 1;
    unsigned cls = 0;
    while (cls < MSG_POOL_CLASSES && ((size_t)256 << cls) < need)
        cls++;
    struct relay_msg *m = NULL;
    if (cls < MSG_POOL_CLASSES && pool->free[cls]) {
        m = pool->free[cls];
        pool->free[cls] = m->next_free;
        pool->nfree[cls]--;
    } else {
        m = malloc(sizeof *m + (cls < MSG_POOL_CLASSES ? (size_t)256 << cls : need));
        if (!m)
            return NULL;
    }
    if (cls < MSG_POOL_CLASSES && ++pool->live[cls] > pool->peak[cls])
        pool->peak[cls] = pool->live[cls];
    m->pool = pool;
    m->next_free = NULL;
    m->cls = cls;
    m->refs = 1;
    m->nmsgs = 1;
    m->len = len;
    m->headroom = pool->headroom;
    m->data[m->headroom + len] = '\0';
    return m;
}

struct relay_msg *relay_msg_new(struct msg_pool *pool, int op, const char *text, size_t len,
                                int64_t origin_ms)
{
    struct relay_msg *m = msg_alloc(pool, len);
    if (!m)
        return NULL;
    m->op = op;
    m->origin_ms = origin_ms;
    memcpy(m->data + m->headroom, text, len);
    return m;
}

struct relay_msg *relay_msg_from_json(struct msg_pool *pool, int op, const json_t *v,
                                      int64_t origin_ms)
{
    /* one encoding pass in the usual case: small messages go through a stack buffer */
    char small[4096];
    size_t len = jsonenc_dump(v, small, sizeof small);
    if (len == 0)
        return NULL;
    if (len <= sizeof small)
        return relay_msg_new(pool, op, small, len, origin_ms);
    struct relay_msg *m = msg_alloc(pool, len);
    if (!m)
        return NULL;
    m->op = op;
    m->origin_ms = origin_ms;
    if (jsonenc_dump(v, (char *)m->data + m->headroom, len) != len) {
        relay_msg_unref(m);
        return NULL;
    }
    return m;
}

struct relay_msg *relay_msg_ref(struct relay_msg *m)
{
    m->refs++;
    return m;
}

void relay_msg_unref(struct relay_msg *m)
{
    if (!m || --m->refs > 0)
        return;
    struct msg_pool *pool = m->pool;
    if (m->cls < MSG_POOL_CLASSES)
        pool->live[m->cls]--;
    if (m->cls < MSG_POOL_CLASSES &&
        (pool->nfree[m->cls] < pool->peak[m->cls] ||
         ((size_t)pool->nfree[m->cls] + 1) * ((size_t)256 << m->cls) <= MSG_POOL_KEEP_BYTES)) {
        m->next_free = pool->free[m->cls];
        pool->free[m->cls] = m;
        pool->nfree[m->cls]++;
        return;
    }
    free(m);
}

struct relay_msg *relay_msg_join(struct msg_pool *pool, struct relay_msg *const *msgs, size_t n)
{
    if (n == 0)
        return NULL;
    if (n == 1)
        return relay_msg_ref(msgs[0]);
    size_t len = 1; /* '[' */
    int64_t origin = 0;
    unsigned count = 0;
    for (size_t i = 0; i < n; i++) {
        len += msgs[i]->len + 1; /* ',' or ']' */
        if (msgs[i]->origin_ms && (!origin || msgs[i]->origin_ms < origin))
            origin = msgs[i]->origin_ms;
        count += msgs[i]->nmsgs;
    }
    struct relay_msg *m = msg_alloc(pool, len);
    if (!m)
        return NULL;
    m->op = 0;
    m->nmsgs = count;
    m->origin_ms = origin;
    unsigned char *p = m->data + m->headroom;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(p, relay_msg_bytes(msgs[i]), msgs[i]->len);
        p += msgs[i]->len;
        *p++ = i + 1 < n ? ',' : ']';
    }
    return m;
}

void outbox_init(struct outbox *ob)
{
    ob->head = ob->tail = NULL;
    ob->frames = 0;
    ob->bytes = 0;
}

void outbox_clear(struct outbox *ob)
{
    while (ob->head)
        outbox_pop(ob);
}

int outbox_push(struct outbox *ob, struct relay_msg *m)
{
    struct outbox_node *n = malloc(sizeof *n);
    if (!n)
        return -1;
    n->next = NULL;
    n->msg = relay_msg_ref(m);
    if (ob->tail)
        ob->tail->next = n;
    else
        ob->head = n;
    ob->tail = n;
    ob->frames++;
    ob->bytes += m->len;
    return 0;
}

struct relay_msg *outbox_peek(const struct outbox *ob)
{
    return ob->head ? ob->head->msg : NULL;
}

void outbox_pop(struct outbox *ob)
{
    struct outbox_node *n = ob->head;
    if (!n)
        return;
    ob->head = n->next;
    if (!ob->head)
        ob->tail = NULL;
    ob->frames--;
    ob->bytes -= n->msg->len;
    relay_msg_unref(n->msg);
    free(n);
}

void msgvec_init(struct msgvec *v)
{
    v->items = NULL;
    v->count = v->cap = 0;
}

void msgvec_clear(struct msgvec *v)
{
    for (size_t i = 0; i < v->count; i++)
        relay_msg_unref(v->items[i]);
    free(v->items);
    msgvec_init(v);
}

int msgvec_push(struct msgvec *v, struct relay_msg *m)
{
    if (grow_array(&v->items, &v->cap, v->count + 1, sizeof *v->items, 8, RELAY_VEC_MAX) != 0)
        return -1;
    v->items[v->count++] = relay_msg_ref(m);
    return 0;
}
