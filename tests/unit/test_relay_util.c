/* test_relay_util.c — helpers for the relay rules tests (no suite of its own). */
#include "tests/unit/test_relay_util.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static void on_ready(void *ctx, void *peer_ctx)
{
    (void)peer_ctx;
    ((struct tenv *)ctx)->ready++;
}

static void on_closing(void *ctx, void *peer_ctx, int code, const char *reason)
{
    (void)peer_ctx;
    struct tenv *e = ctx;
    e->closing++;
    e->last_close_code = code;
    e->last_close_reason = reason;
}

static bool on_created(void *ctx, struct relay_room *room)
{
    (void)room;
    struct tenv *e = ctx;
    e->created++;
    return e->load_on_create;
}

static void on_freed(void *ctx, struct relay_room *room)
{
    (void)room;
    ((struct tenv *)ctx)->freed++;
}

static void on_save(void *ctx, struct relay_room *room, json_t *doc, enum relay_save_reason why,
                    const char *user)
{
    (void)room;
    struct tenv *e = ctx;
    json_decref(e->last_save);
    e->last_save = doc;
    e->saves++;
    e->last_save_why = (int)why;
    snprintf(e->last_save_user, sizeof e->last_save_user, "%s", user ? user : "");
}

void tenv_init(struct tenv *e)
{
    memset(e, 0, sizeof *e);
    relay_config_defaults(&e->cfg);
    e->now = 1000000;
}

void tenv_start(struct tenv *e)
{
    struct relay_hooks hooks = {.peer_ready = on_ready,
                                .room_created = on_created,
                                .room_save = on_save,
                                .room_freed = on_freed,
                                .peer_closing = on_closing};
    e->hub = relay_hub_new(&e->cfg, &hooks, e);
    ck_assert_ptr_nonnull(e->hub);
}

void tenv_free(struct tenv *e)
{
    relay_hub_free(e->hub);
    json_decref(e->last_save);
    e->hub = NULL;
    e->last_save = NULL;
}

struct relay_peer *tjoin(struct tenv *e, const char *room, const char *uid,
                         enum relay_join_result expect)
{
    struct relay_peer *p = NULL;
    char name[96];
    snprintf(name, sizeof name, "name-%s", uid);
    enum relay_join_result r = relay_hub_join(e->hub, room, uid, name, NULL, e->now, &p);
    ck_assert_int_eq(r, expect);
    ck_assert_ptr_nonnull(p);
    return p;
}

void tsend(struct tenv *e, struct relay_peer *p, const char *text)
{
    relay_peer_handle(p, text, strlen(text), e->now);
}

void ttick(struct tenv *e, int64_t ms)
{
    e->now += ms;
    relay_hub_tick(e->hub, e->now);
}

void tdrain(struct relay_peer *p, struct tdrain *d)
{
    memset(d, 0, sizeof *d);
    d->msgs = json_array();
    d->frame_list = json_array();
    struct relay_frame f;
    enum relay_out o;
    while ((o = relay_peer_next(p, &f)) == RELAY_OUT_FRAME) {
        d->frames++;
        if (f.len > d->max_frame)
            d->max_frame = f.len;
        json_array_append_new(d->frame_list, json_stringn((const char *)f.bytes, f.len));
        json_error_t err;
        json_t *v = json_loadb((const char *)f.bytes, f.len, JSON_REJECT_DUPLICATES, &err);
        if (!v && json_error_code(&err) == json_error_numeric_overflow) /* relayed as sent */
            v = json_loadb((const char *)f.bytes, f.len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
        ck_assert_msg(v != NULL, "frame is not JSON: %s", err.text);
        if (json_is_array(v)) {
            ck_assert_msg(json_array_size(v) >= 2, "a batch holds at least 2 messages");
            json_array_extend(d->msgs, v);
        } else {
            json_array_append(d->msgs, v);
        }
        json_decref(v);
        relay_peer_pop(p);
    }
    if (o == RELAY_OUT_CLOSE) {
        d->closed = true;
        d->close_code = f.close_code;
        d->close_reason = f.close_reason;
    }
}

void tdrain_clear(struct tdrain *d)
{
    json_decref(d->msgs);
    json_decref(d->frame_list);
    memset(d, 0, sizeof *d);
}

json_t *tfind(const struct tdrain *d, int op, size_t n)
{
    size_t i;
    json_t *m;
    json_array_foreach(d->msgs, i, m)
    {
        if (json_integer_value(json_object_get(m, "op")) == op && n-- == 0)
            return m;
    }
    return NULL;
}

size_t tcount(const struct tdrain *d, int op)
{
    size_t i, n = 0;
    json_t *m;
    json_array_foreach(d->msgs, i, m) n += json_integer_value(json_object_get(m, "op")) == op;
    return n;
}

void tdiscard(struct relay_peer *p)
{
    struct tdrain d;
    tdrain(p, &d);
    tdrain_clear(&d);
}

const char *tstr(json_t *msg, const char *key)
{
    json_t *v = json_object_get(msg, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long tint(json_t *msg, const char *key)
{
    return (long long)json_integer_value(json_object_get(msg, key));
}
