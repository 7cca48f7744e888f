/* roomdoc.h — the room document rules of docs/http-api.md ("The room document",
 * "Validation", "What is stored"): validates a parsed save body and builds the document
 * that is stored.  Plain C over jansson, no HTTP: the server and the relay both use it
 * (the relay for manifests, tiers and durability, and to build what it saves).  The rules
 * themselves (members, modes, tiers, limits, the stored form) are the tables of
 * roomschema.h, which the fast path (roomscan.h) follows too. */
#ifndef ROOMSTATE_ROOMDOC_H
#define ROOMSTATE_ROOMDOC_H

#include "common/roomschema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ROOMDOC_MAX_ERRORS 64

struct roomdoc_error {
    char path[160];    /* e.g. "objects[3].manifest_id" */
    char message[256]; /* e.g. "unknown manifest 'crate_v2'" */
};

struct roomdoc_errors {
    struct roomdoc_error items[ROOMDOC_MAX_ERRORS];
    size_t count; /* recorded (<= ROOMDOC_MAX_ERRORS) */
    size_t total; /* found, may exceed count */
};

enum roomdoc_result {
    ROOMDOC_OK = 0,
    ROOMDOC_INVALID, /* 422: errors filled (every problem found, up to ROOMDOC_MAX_ERRORS) */
    ROOMDOC_NOMEM,
};

/* Validates body (any JSON value) against the contract and, when valid, sets *stored to a
 * new reference to the document to store: {"manifests": {only the used ones, as sent},
 * "objects": [only placed_saved, in order, durable properties only, held_by/owner_id null,
 * placed true, seq kept (0 when absent), scale defaulted to [1,1,1]]}.  Counts go to stats.
 * Nothing is stored on failure (*stored stays NULL). */
enum roomdoc_result roomdoc_filter(json_t *body, const struct roomdoc_limits *limits,
                                   json_t **stored, struct roomdoc_stats *stats,
                                   struct roomdoc_errors *errors)
    __attribute__((warn_unused_result));

/* The same rules and results as roomdoc_filter, for a caller that has no further use for
 * body as sent (e.g. the server, which parsed it for this call): the stored objects are
 * body's own objects, changed in place, which saves most allocations (about 3x faster on
 * a 500-object document).  body may be changed on failure too; *stored holds references
 * into it.  Not for a body shared with another thread. */
enum roomdoc_result roomdoc_filter_in_place(json_t *body, const struct roomdoc_limits *limits,
                                            json_t **stored, struct roomdoc_stats *stats,
                                            struct roomdoc_errors *errors)
    __attribute__((warn_unused_result));

#endif
