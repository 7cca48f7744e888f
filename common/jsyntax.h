/* jsyntax.h — pass 1 of the save fast path (roomscan): a strict JSON syntax check that
 * accepts only what jansson (json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
 * accepts — grammar, strict UTF-8, escapes, no duplicate keys — and conservatively
 * refuses what it would not decide the same way without decoding: keys with escapes,
 * \u0000, escaped surrogates, integers over 18 digits, reals that could overflow, objects
 * of more than JSYNTAX_MAX_KEYS members, nesting deeper than JSYNTAX_MAX_DEPTH, bodies of
 * JSYNTAX_MAX_LEN bytes or more.  "Refused" means only "not for the fast path": the caller
 * falls back to jansson.
 *
 * While it checks, it records the document's structure (a "tape") so that pass 2 never
 * reads a value twice: every container (object or array) is a node, in the order they
 * open, and every object's members are kept together with the range and kind of their
 * values. */
#ifndef ROOMSTATE_JSYNTAX_H
#define ROOMSTATE_JSYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSYNTAX_MAX_KEYS 64
#define JSYNTAX_MAX_DEPTH 256
#define JSYNTAX_KEY_STACK 1024               /* members of all objects open at once */
#define JSYNTAX_MAX_LEN ((size_t)UINT32_MAX) /* offsets in the body are 32-bit */

/* What a value is. */
enum jsyntax_kind {
    JSYNTAX_OBJECT = 1,
    JSYNTAX_ARRAY,
    JSYNTAX_STRING,     /* without escapes */
    JSYNTAX_STRING_ESC, /* with at least one escape */
    JSYNTAX_UINT,       /* an integer without sign: digits only */
    JSYNTAX_NUMBER,     /* any other number */
    JSYNTAX_TRUE,
    JSYNTAX_FALSE,
    JSYNTAX_NULL,
};

/* A member of an object.  Offsets are from the start of the body. */
struct jsyntax_member {
    uint32_t k, kn; /* key (without quotes) */
    uint32_t v, ve; /* value [v, ve) */
    uint32_t node;  /* the value's node when it is a container */
    uint32_t kind;  /* enum jsyntax_kind of the value */
};

/* A container; node 0 is the body's own value when that is one.  The direct children of a
 * node (the containers among its values, in order) are node + 1, then each one's next. */
struct jsyntax_node {
    uint32_t first;  /* object: index in mem of its first member (its n members follow) */
    uint32_t n;      /* members (object) or elements (array) */
    uint32_t next;   /* the node after this one's subtree */
    uint16_t height; /* nesting: 1 for a container of scalars only */
    uint8_t kind;    /* JSYNTAX_OBJECT or JSYNTAX_ARRAY */
    uint8_t numbers; /* array: every element is a number */
};

struct jsyntax {
    const unsigned char *b, *end; /* the body */
    struct jsyntax_member *mem;   /* every object's members, object by object */
    size_t nmem, mem_cap;
    struct jsyntax_node *node;
    size_t nnode, node_cap;
    size_t nstk; /* members of the objects still open */
    struct jsyntax_member stk[JSYNTAX_KEY_STACK];
};

/* True when body (len bytes; body[len] must be '\0', a sentinel) is JSON as above; the
 * tape is then in s->mem and s->node.  s must be zeroed before the first call;
 * jsyntax_free releases the tape. */
bool jsyntax_check(struct jsyntax *s, const char *body, size_t len)
    __attribute__((warn_unused_result));
void jsyntax_free(struct jsyntax *s);

/* The first byte in [p, e) that is not plain in a string (plain: 0x20-0x7F but '"' and
 * '\\'), or e.  jsyntax_plain_run uses the machine's widest way (16 bytes at a time with
 * SSE2); jsyntax_plain_run_word is the portable one (8 bytes at a time), also used where
 * SSE2 is absent.  Both read nothing outside [p, e). */
const unsigned char *jsyntax_plain_run(const unsigned char *p, const unsigned char *e);
const unsigned char *jsyntax_plain_run_word(const unsigned char *p, const unsigned char *e);

/* Length of the one strict UTF-8 sequence of 2 to 4 bytes at p (p < e), or 0 when the bytes
 * at p do not start one. */
size_t jsyntax_utf8_seq(const unsigned char *p, const unsigned char *e);

#endif
