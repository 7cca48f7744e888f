/* outbox.c — shared encoded messages, frame joining, per-peer frame queues. */
#include "relay/outbox.h"

#include <stdlib.h>
#include <string.h>

struct outbox_node {
    struct outbox_node *next;
    struct relay_msg *msg;
};

struct relay_msg *relay_msg_new(size_t headroom, int op, const char *text, size_t len,
                                int64_t origin_ms)
{
    struct relay_msg *m = malloc(sizeof *m + headroom + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->op = op;
    m->nmsgs = 1;
    m->origin_ms = origin_ms;
    m->len = len;
    m->headroom = headroom;
    memcpy(m->data + headroom, text, len);
    m->data[headroom + len] = '\0';
    return m;
}

struct relay_msg *relay_msg_from_json(size_t headroom, int op, const json_t *v, int64_t origin_ms)
{
    size_t len = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (len == 0)
        return NULL;
    struct relay_msg *m = malloc(sizeof *m + headroom + len + 1);
    if (!m)
        return NULL;
    if (json_dumpb(v, (char *)m->data + headroom, len, JSON_COMPACT) != len) {
        free(m);
        return NULL;
    }
    m->refs = 1;
    m->op = op;
    m->nmsgs = 1;
    m->origin_ms = origin_ms;
    m->len = len;
    m->headroom = headroom;
    m->data[headroom + len] = '\0';
    return m;
}

struct relay_msg *relay_msg_ref(struct relay_msg *m)
{
    m->refs++;
    return m;
}

void relay_msg_unref(struct relay_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

struct relay_msg *relay_msg_join(size_t headroom, struct relay_msg *const *msgs, size_t n)
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
    struct relay_msg *m = malloc(sizeof *m + headroom + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->op = 0;
    m->nmsgs = count;
    m->origin_ms = origin;
    m->len = len;
    m->headroom = headroom;
    unsigned char *p = m->data + headroom;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(p, relay_msg_bytes(msgs[i]), msgs[i]->len);
        p += msgs[i]->len;
        *p++ = i + 1 < n ? ',' : ']';
    }
    *p = '\0';
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
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        struct relay_msg **items = realloc(v->items, cap * sizeof *items);
        if (!items)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->count++] = relay_msg_ref(m);
    return 0;
}
