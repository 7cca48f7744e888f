/* store_copy.h — copies a whole room set from one database to another, any backends
 * (roomstate-migrate copy): every room with its version counter (deleted rooms too, so
 * versions continue and are never reused), its current state and retained history. */
#ifndef ROOMSTATE_STORE_COPY_H
#define ROOMSTATE_STORE_COPY_H

#include "store/store.h"

struct store_copy_stats {
    size_t rooms, versions;
};

/* Refuses (STORE_PRECONDITION_FAILED, nothing written) when `to` holds any room.  Each
 * room is written in its own transaction; on a failure err names the room, and the rooms
 * before it stay copied (empty the destination, e.g. drop and re-migrate it, to retry). */
enum store_status store_copy(struct store *from, struct store *to, struct store_copy_stats *out,
                             char *err, size_t errsize) __attribute__((warn_unused_result));

#endif
