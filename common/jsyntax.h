/* jsyntax.h — pass 1 of the save fast path (roomscan): a strict JSON syntax check that
 * accepts only what jansson (json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
 * accepts — grammar, strict UTF-8, escapes, no duplicate keys — and conservatively
 * refuses what it would not decide the same way without decoding: keys with escapes,
 * \u0000, escaped surrogates, integers over 18 digits, reals that could overflow, objects
 * of more than JSYNTAX_MAX_KEYS members, nesting deeper than JSYNTAX_MAX_DEPTH.  "Refused"
 * means only "not for the fast path": the caller falls back to jansson. */
#ifndef ROOMSTATE_JSYNTAX_H
#define ROOMSTATE_JSYNTAX_H

#include <stdbool.h>
#include <stddef.h>

#define JSYNTAX_MAX_KEYS 64
#define JSYNTAX_MAX_DEPTH 256
#define JSYNTAX_KEY_STACK 1024 /* keys of all objects open at once */

/* A member of the top-level object: key (without quotes), value [v, ve). */
struct jsyntax_member {
    const unsigned char *k, *v, *ve;
    size_t kn;
};

struct jsyntax {
    const unsigned char *end;
    struct jsyntax_member top[JSYNTAX_MAX_KEYS]; /* when the body is an object */
    size_t ntop;
    size_t nkeys;
    struct {
        const unsigned char *p;
        size_t n;
    } keys[JSYNTAX_KEY_STACK];
};

/* Byte classes (ready after the first jsyntax_check).  plain: string bytes that need no
 * look (printable ASCII but '"' and '\\'); skim: bytes a skip over a valid value passes
 * (all but quotes, brackets and NUL). */
extern unsigned char jsyntax_plain[256], jsyntax_skim[256];

/* True when body (len bytes; body[len] must be '\0', a sentinel) is JSON as above; the
 * top-level object's members are then in s->top. */
bool jsyntax_check(struct jsyntax *s, const char *body, size_t len)
    __attribute__((warn_unused_result));

#endif
