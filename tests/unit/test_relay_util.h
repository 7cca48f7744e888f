/* test_relay_util.h — helpers shared by the relay rules tests (test_relay_*.c): a hub with
 * recording hooks, joins, sending text, draining a peer's outbox into parsed messages. */
#ifndef ROOMSTATE_TEST_RELAY_UTIL_H
#define ROOMSTATE_TEST_RELAY_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "relay/room.h"

struct tenv {
    struct relay_config cfg;
    struct relay_hub *hub;
    int64_t now;
    unsigned ready, created, freed, saves;
    unsigned closing; /* peer_closing hook calls, with the last one's code and reason */
    int last_close_code;
    const char *last_close_reason;
    bool load_on_create; /* room_created answers "loading started" */
    json_t *last_save;
    int last_save_why;
    char last_save_user[80];
};

/* cfg defaults with tweak applied by the caller before tenv_start. */
void tenv_init(struct tenv *e);
void tenv_start(struct tenv *e);
void tenv_free(struct tenv *e);
/* Joins user "u<i>"-style ids; asserts the expected result. */
struct relay_peer *tjoin(struct tenv *e, const char *room, const char *uid,
                         enum relay_join_result expect);
void tsend(struct tenv *e, struct relay_peer *p, const char *text);
/* Advances time by ms and runs one tick. */
void ttick(struct tenv *e, int64_t ms);

struct tdrain {
    json_t *msgs; /* every message, arrays flattened */
    size_t frames;
    size_t max_frame;
    json_t *frame_list; /* every frame's text as a JSON string */
    bool closed;
    int close_code;
    const char *close_reason;
};
/* Pops everything the peer has queued. */
void tdrain(struct relay_peer *p, struct tdrain *d);
void tdrain_clear(struct tdrain *d);
/* The n-th (0-based) message with op, or NULL; the count of messages with op. */
json_t *tfind(const struct tdrain *d, int op, size_t n);
size_t tcount(const struct tdrain *d, int op);
/* Drains and discards. */
void tdiscard(struct relay_peer *p);
const char *tstr(json_t *msg, const char *key);
long long tint(json_t *msg, const char *key);

#endif
