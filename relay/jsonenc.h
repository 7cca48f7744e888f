/* jsonenc.h — compact JSON text of a jansson value with the shortest decimal form of each
 * real that reads back as the same double (jansson's own dump writes 17 significant digits:
 * 1.6 becomes 1.6000000000000001, which nearly doubles the size of the relay's transform
 * messages).  Object keys keep their insertion order, as json_dumpb does. */
#ifndef ROOMSTATE_RELAY_JSONENC_H
#define ROOMSTATE_RELAY_JSONENC_H

#include <jansson.h>
#include <stddef.h>

/* Writes the text of v into buf (at most size bytes, no NUL) and returns its full length;
 * when that is over size, buf holds a truncated prefix: call again with a larger buffer.
 * Returns 0 when v nests deeper than 64 levels or holds a non-finite real. */
size_t jsonenc_dump(const json_t *v, char *buf, size_t size);

#endif
