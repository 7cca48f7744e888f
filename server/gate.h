/* gate.h — the request gate of roomstate-server: every HTTP/1.1 framing and field rule
 * (RFC 9110, RFC 9112) that libmicrohttpd 0.9.75 leaves to the application, checked once
 * at the first access-handler call, before any route or handler.  A request that fails is
 * answered 400 `bad-message` (501 `unsupported-transfer-coding` for a transfer coding other
 * than chunked) with `Connection: close`, and nothing after it on the connection is read
 * as a request.  docs/http-api.md ("What the server checks on the wire") lists the rules
 * and what is left to the proxy in front. */
#ifndef ROOMSTATE_GATE_H
#define ROOMSTATE_GATE_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;

/* What the raw request target (before URL decoding) told, kept from the request-line
 * callback until the first access-handler call. */
struct gate_uri {
    size_t raw_len;      /* strlen of the raw target, query included */
    size_t authority;    /* absolute form: bytes of "scheme://authority"; 0: origin form */
    const char *problem; /* the first rule the raw target breaks, or NULL */
};

/* Once at start: decides whether the checks that read libmicrohttpd's request buffer
 * (NUL bytes, bare LF, obs-fold; see gate.c) apply to the linked library version. */
void gate_init(void);

/* The request-line callback: checks the raw target (control characters, spaces,
 * percent-encoded control characters, the absolute form) and remembers what it found. */
void gate_on_uri(struct gate_uri *g, const char *uri);

/* A request's Transfer-Encoding value (RFC 9112 §6.1, §7): exactly `chunked` (any case), a
 * well-formed list naming another coding (not implemented: 501), or anything else (400). */
enum gate_te { GATE_TE_CHUNKED, GATE_TE_UNSUPPORTED, GATE_TE_BAD };
enum gate_te gate_transfer_coding(const char *v, size_t len, const char **problem);

/* The first access-handler call.  Returns the path to route (url, or the path of an
 * absolute-form target), or NULL when the request was refused (a problem is queued on r,
 * r->queued set) or the refusal could not be queued (the caller closes: MHD_NO). */
const char *gate_check(struct http_req *r, const char *url, const char *method,
                       const char *version);

#endif
