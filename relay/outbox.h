/* outbox.h — encoded messages shared by every recipient (refcounted bytes, encoded once per
 * fan-out) and a peer's bounded queue of outgoing frames.  A frame is either one message
 * or a JSON array that joins several encoded messages (a memcpy, never a re-encode). */
#ifndef ROOMSTATE_RELAY_OUTBOX_H
#define ROOMSTATE_RELAY_OUTBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The most entries a relay array (an outbox, a tick's messages for one recipient, the
 * candidates of a tick) may grow to (common/grow.h): far above what the room limits allow. */
#define RELAY_VEC_MAX ((size_t)1 << 22)

/* Freed message buffers are kept by size class and reused, so the per-tick frames of a
 * busy relay do not go back and forth to the allocator (and the kernel).  A class keeps at
 * most as many free buffers as it ever had in use at once (at least MSG_POOL_KEEP_BYTES),
 * so the pool never holds more than the peak it served. */
#define MSG_POOL_CLASSES 9             /* buffers of 256 B << class, up to 64 KiB */
#define MSG_POOL_KEEP_BYTES (1u << 20) /* free bytes a class may always keep */

struct relay_msg;

struct msg_pool {
    size_t headroom; /* writable bytes before every message's text */
    struct relay_msg *free[MSG_POOL_CLASSES];
    unsigned nfree[MSG_POOL_CLASSES];
    unsigned live[MSG_POOL_CLASSES], peak[MSG_POOL_CLASSES]; /* buffers in use */
};

void msg_pool_init(struct msg_pool *pool, size_t headroom);
/* Frees the kept buffers (every message of the pool must be gone). */
void msg_pool_clear(struct msg_pool *pool);

struct relay_msg {
    struct msg_pool *pool;
    struct relay_msg *next_free;
    unsigned cls; /* size class, or MSG_POOL_CLASSES when not pooled */
    unsigned refs;
    int op;            /* the message's op; 0 for a batch */
    unsigned nmsgs;    /* messages inside (1, or the batch size) */
    int64_t origin_ms; /* receipt of the oldest input it carries, 0 if none */
    size_t len;        /* text bytes at data + headroom */
    size_t headroom;
    unsigned char data[];
};

static inline unsigned char *relay_msg_bytes(struct relay_msg *m)
{
    return m->data + m->headroom;
}

/* A message from text (copied).  NULL when out of memory. */
struct relay_msg *relay_msg_new(struct msg_pool *pool, int op, const char *text, size_t len,
                                int64_t origin_ms);
/* Encodes v compactly (jsonenc: insertion order, shortest round-trip reals).  NULL when out
 * of memory or v cannot be encoded. */
struct relay_msg *relay_msg_from_json(struct msg_pool *pool, int op, const json_t *v,
                                      int64_t origin_ms);
struct relay_msg *relay_msg_ref(struct relay_msg *m);
void relay_msg_unref(struct relay_msg *m);
/* One frame "[m0,m1,…]" from n >= 2 messages, or a new reference to msgs[0] when n == 1.
 * origin_ms: the smallest non-zero origin.  NULL when out of memory. */
struct relay_msg *relay_msg_join(struct msg_pool *pool, struct relay_msg *const *msgs, size_t n);

struct outbox_node;

struct outbox {
    struct outbox_node *head, *tail;
    size_t frames;
    size_t bytes; /* text bytes queued */
};

void outbox_init(struct outbox *ob);
void outbox_clear(struct outbox *ob);
/* Appends a reference to m.  0, or -1 when out of memory. */
int outbox_push(struct outbox *ob, struct relay_msg *m) __attribute__((warn_unused_result));
struct relay_msg *outbox_peek(const struct outbox *ob);
void outbox_pop(struct outbox *ob);

/* A growable array of message references (a peer's reliable messages of this tick). */
struct msgvec {
    struct relay_msg **items;
    size_t count, cap;
};
void msgvec_init(struct msgvec *v);
void msgvec_clear(struct msgvec *v); /* unrefs every item */
int msgvec_push(struct msgvec *v, struct relay_msg *m) __attribute__((warn_unused_result));

#endif
