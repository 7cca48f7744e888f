/* roomscan.h — the fast path of a save: checks a room document straight from its bytes
 * (no jansson tree) and writes the stored document by copying byte ranges of the kept
 * values.  It decides only the common case: a body that is valid JSON (as jansson with
 * JSON_REJECT_DUPLICATES reads it) and a valid room document (as roomdoc_filter judges
 * it).  Everything else — every invalid body, and a few valid but unusual ones — gives
 * ROOMSCAN_FALLBACK, and the caller then runs the reference path (json_loadb +
 * roomdoc_filter), which produces every error, its path and its message.  So errors are
 * never produced here, and behaviour stays the reference's by construction:
 *
 *   ROOMSCAN_OK  =>  json_loadb(body) succeeds, roomdoc_filter() is ROOMDOC_OK with the
 *                    same stats, and *doc parses to a JSON value equal (json_equal: key
 *                    order aside) to what roomdoc_filter stores.
 *
 * tests/unit/test_roomscan.c checks this against the reference on generated documents.
 * Falls back (among others) on: strings with escapes where the rules read them (object
 * keys, object_id, persist_mode, manifest_id, tier), numbers that could overflow jansson
 * (integers over 18 digits, huge exponents), objects of more than ROOMSCAN_MAX_KEYS
 * members, nesting deeper than ROOMSCAN_MAX_DEPTH.  Numbers and strings are stored as
 * sent (same values; spelling and whitespace inside values may differ from jansson's). */
#ifndef ROOMSTATE_ROOMSCAN_H
#define ROOMSTATE_ROOMSCAN_H

#include "common/jsyntax.h"
#include "common/roomdoc.h"

#include <stddef.h>

#define ROOMSCAN_MAX_KEYS JSYNTAX_MAX_KEYS
#define ROOMSCAN_MAX_DEPTH JSYNTAX_MAX_DEPTH

enum roomscan_result {
    ROOMSCAN_OK = 0,
    ROOMSCAN_FALLBACK, /* not decided here: use json_loadb + roomdoc_filter */
    ROOMSCAN_NOMEM,
};

/* body[len] must be readable and '\0' (a sentinel that ends the scanner's inner loops;
 * without it: ROOMSCAN_FALLBACK).  On ROOMSCAN_OK, *doc is a malloc'd, NUL-terminated stored
 * document of *doc_len bytes and *stats is filled; otherwise *doc is NULL. */
enum roomscan_result roomscan_filter(const char *body, size_t len,
                                     const struct roomdoc_limits *limits, char **doc,
                                     size_t *doc_len, struct roomdoc_stats *stats)
    __attribute__((warn_unused_result));

#endif
