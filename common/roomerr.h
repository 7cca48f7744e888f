/* roomerr.h — the problems found in a room document, each with its JSON path.  A walk keeps
 * the path as a stack of segments (member names, array indexes) and renders it only when a
 * problem is recorded: objects[3].manifest_id, manifests["a b"].properties.  Used by
 * roomdoc.c, which reports every problem of a body it refuses. */
#ifndef ROOMSTATE_ROOMERR_H
#define ROOMSTATE_ROOMERR_H

#include "common/roomdoc.h"

#include <jansson.h>
#include <stddef.h>

#define ROOMERR_MAX_SEGS 8     /* deeper segments are not rendered */
#define ROOMERR_QUOTE_BYTES 64 /* user strings quoted in messages are cut to this */

struct roomerr_seg {
    const char *key; /* NULL: an array index */
    size_t index;
};

struct roomerr {
    struct roomdoc_errors *errors;
    struct roomerr_seg segs[ROOMERR_MAX_SEGS];
    size_t nseg; /* may exceed ROOMERR_MAX_SEGS */
};

/* Enters member key, or array element index when key is NULL. */
static inline void roomerr_push(struct roomerr *w, const char *key, size_t index)
{
    if (w->nseg < ROOMERR_MAX_SEGS)
        w->segs[w->nseg] = (struct roomerr_seg){.key = key, .index = index};
    w->nseg++;
}

static inline void roomerr_pop(struct roomerr *w)
{
    w->nseg--;
}

/* Records a problem at the current path (plus the member suffix, when not NULL): counted in
 * errors->total, kept while fewer than ROOMDOC_MAX_ERRORS are.  Path and message are cut
 * to their buffers on a UTF-8 boundary. */
__attribute__((format(printf, 3, 4))) void roomerr_fail(struct roomerr *w, const char *suffix,
                                                        const char *fmt, ...);

/* A user string made safe to quote in a message: s itself, or cut to ROOMERR_QUOTE_BYTES on
 * a UTF-8 boundary in out, with "..." appended. */
const char *roomerr_quote(const char *s, char out[ROOMERR_QUOTE_BYTES + 4]);

/* "an object", "a string", ... for messages. */
const char *roomerr_type_name(const json_t *v);

#endif
