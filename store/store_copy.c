/* store_copy.c — a room set from one store to another through the store interface (see
 * store_copy.h). */
#include "store/store_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One room: counter, then every retained version with its document. */
static enum store_status copy_room(struct store *from, struct store *to, const char *room_id,
                                   size_t *nversions)
{
    struct store_room_copy c = {.room_id = room_id};
    struct store_version_info *info = NULL;
    struct store_state *states = NULL;
    size_t n = 0, got = 0;
    enum store_status st = store_room_counter(from, room_id, &c.counter);
    if (st)
        return st;
    st = store_room_versions(from, room_id, &info, &n);
    if (st == STORE_NOT_FOUND) { /* a deleted room: only its counter */
        st = STORE_OK;
        n = 0;
    }
    if (st)
        return st;
    states = calloc(n ? n : 1, sizeof *states);
    if (!states) {
        free(info);
        return STORE_ERROR;
    }
    for (; got < n && st == STORE_OK; got++)
        st = store_room_get(from, room_id, info[got].version, &states[got]);
    if (st == STORE_OK) {
        c.versions = states;
        c.n = n;
        st = store_room_import(to, &c);
    }
    for (size_t i = 0; i < got; i++)
        store_state_clear(&states[i]);
    free(states);
    free(info);
    if (st == STORE_OK)
        *nversions += n;
    return st;
}

enum store_status store_copy(struct store *from, struct store *to, struct store_copy_stats *out,
                             char *err, size_t errsize)
{
    char **ids = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    enum store_status st = store_rooms_list(to, &ids, &n);
    if (st) {
        snprintf(err, errsize, "listing the destination's rooms: %s", store_status_name(st));
        return st;
    }
    store_rooms_list_free(ids, n);
    if (n > 0) {
        snprintf(err, errsize,
                 "the destination already holds %zu room(s): copy only into a database that "
                 "was migrated and never used",
                 n);
        return STORE_PRECONDITION_FAILED;
    }
    st = store_rooms_list(from, &ids, &n);
    if (st) {
        snprintf(err, errsize, "listing the source's rooms: %s", store_status_name(st));
        return st;
    }
    for (size_t i = 0; i < n && st == STORE_OK; i++) {
        st = copy_room(from, to, ids[i], &out->versions);
        if (st)
            snprintf(err, errsize, "room %s: %s (%zu room(s) before it were copied)", ids[i],
                     store_status_name(st), out->rooms);
        else
            out->rooms++;
    }
    store_rooms_list_free(ids, n);
    return st;
}
