/* jspan.h — byte spans of JSON text the relay already parsed with jansson: the elements of
 * an array, the members (key and value text) of an object.  The relay forwards the sender's
 * bytes from these spans instead of re-rendering values (asyncapi.yaml: relayed fields go
 * out exactly as the sender wrote them).  The text must be valid JSON (jansson accepted
 * it); every step is still bounded by the end of the text and returns -1 when the text is
 * not what was expected. */
#ifndef ROOMSTATE_RELAY_JSPAN_H
#define ROOMSTATE_RELAY_JSPAN_H

#include <stdbool.h>
#include <stddef.h>

struct jspan {
    const char *p; /* first byte */
    size_t n;      /* length */
};

struct jmember {
    struct jspan key;   /* between the quotes, undecoded (escapes as sent) */
    struct jspan value; /* the value's text, from its first to its last byte */
    bool key_escaped;   /* key holds a backslash: compare after decoding (callers refuse) */
};

/* The elements of the JSON array that text is (leading/trailing whitespace allowed):
 * their count (at most max are stored), or -1. */
int jspan_array(const char *text, size_t len, struct jspan *out, int max);

/* The members of the JSON object that text is: their count (at most max stored), or -1. */
int jspan_object(const char *text, size_t len, struct jmember *out, int max);

/* Whether m's key is exactly name (an escaped key never is). */
bool jspan_key_is(const struct jmember *m, const char *name);

#endif
