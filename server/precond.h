/* precond.h — conditional request headers (RFC 9110 §13): If-Match and If-None-Match
 * against the ETags the server hands out, "<version>".  If-Match compares strongly (a weak
 * tag never matches), If-None-Match weakly.  A malformed header matches nothing. */
#ifndef ROOMSTATE_PRECOND_H
#define ROOMSTATE_PRECOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRECOND_MAX_TAGS 16

enum precond_kind { PRECOND_NONE = 0, PRECOND_ANY, PRECOND_LIST };

struct precond {
    enum precond_kind kind;
    size_t n;                           /* version tags recorded */
    int64_t versions[PRECOND_MAX_TAGS]; /* other (non-numeric) tags are ignored */
};

/* header NULL: PRECOND_NONE.  weak_ok: If-None-Match (W/"3" matches version 3). */
void precond_parse(const char *header, bool weak_ok, struct precond *out);

/* True when the list holds version (or is "*"). */
bool precond_matches(const struct precond *p, int64_t version);

/* Formats the ETag of a version, "\"3\"", into out. */
void precond_etag(int64_t version, char *out, size_t size);

#endif
