/* gate.c — the request gate (see gate.h): HTTP/1.1 framing and field rules checked before
 * any route or handler.
 *
 * What libmicrohttpd 0.9.75 does on its own, and so what is left here (measured, see
 * tests/integration/test_http_framing.py): it takes the first of repeated Content-Length,
 * Host, Authorization and Transfer-Encoding lines; it reads a body for any Transfer-Encoding
 * (decoding only `chunked`) and ignores Content-Length when one is there; it does not
 * require Host; it keeps a name with whitespace before the colon as a header of that name
 * and silently drops a line with an empty name; it cuts a field value at a NUL byte; it
 * accepts a bare LF as a line end; and it appends an obs-fold continuation line to the
 * field *name*.  It passes the raw request target to the request-line callback
 * (gate_on_uri) before decoding it.
 *
 * Four of those leave no trace in the values the library hands over, only in its request
 * buffer, which holds the request as received with each CR, LF and colon replaced by NUL,
 * each line right after the one before (the buffer grows in place) and each value
 * pointing into its line: a dropped empty-name line, a NUL inside a line, a bare LF, and
 * an obs-fold (the name of a folded field is moved out of the buffer, away from its
 * value).  Those checks read that buffer and apply only to the library version they were
 * measured on; with another version they are off and the server says so at start. */
#include "server/gate.h"

#include "common/log.h"
#include "server/http.h"
#include "server/reply.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The library version whose request buffer layout the NUL, bare-LF and obs-fold checks
 * rely on. */
#define GATE_LAYOUT_VERSION "0.9.75"

static bool layout_checks;

void gate_init(void)
{
    const char *v = MHD_get_version();
    layout_checks = v && !strcmp(v, GATE_LAYOUT_VERSION);
    if (!layout_checks)
        log_warn("libmicrohttpd %s: the request gate's NUL, bare-LF and obs-fold checks are "
                 "off (they are measured on %s); the proxy in front must refuse those",
                 v ? v : "?", GATE_LAYOUT_VERSION);
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 §5.5: a field value holds no control character but HTAB (obs-text is allowed). */
static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The length of "http://" or "https://" (any case) at the start of uri, or 0. */
static size_t scheme_len(const char *uri)
{
    if (!strncasecmp(uri, "http://", 7))
        return 7;
    if (!strncasecmp(uri, "https://", 8))
        return 8;
    return 0;
}

void gate_on_uri(struct gate_uri *g, const char *uri)
{
    g->raw_len = strlen(uri);
    g->authority = 0;
    g->problem = NULL;
    for (size_t i = 0; i < g->raw_len; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c == 0x7f) {
            g->problem = "a control character or a space in the request target";
            return;
        }
        if (c == '#') {
            g->problem = "a fragment (#) in the request target";
            return;
        }
        if (c == '%' && hexval(uri[i + 1]) >= 0 && hexval(uri[i + 2]) >= 0) {
            int v = hexval(uri[i + 1]) * 16 + hexval(uri[i + 2]);
            if (v < 0x20 || v == 0x7f) {
                g->problem = "a percent-encoded control character in the request target";
                return;
            }
        }
    }
    /* RFC 9112 §3.2.2: the absolute form; routed by its path, its authority ignored. */
    size_t s = scheme_len(uri);
    if (s) {
        size_t a = strcspn(uri + s, "/?");
        if (a == 0 || memchr(uri + s, '@', a) || memchr(uri + s, '%', a)) {
            g->problem = "an absolute-form target without a plain host";
            return;
        }
        g->authority = s + a;
    }
}

/* What the header walk found. */
struct fields {
    const char *problem; /* the first rule broken */
    const char *next;    /* layout checks: where the next field name must start */
    unsigned host, cl, te, authz;
    const char *host_value, *te_value;
    size_t te_len;
};

/* The bytes between a name and its value in the request buffer: the NUL that replaced
 * the colon, then only SP or HTAB.  Anything else (the name was moved: obs-fold) fails. */
static bool value_follows_name(const char *key, size_t key_size, const char *value)
{
    uintptr_t k = (uintptr_t)key + key_size, v = (uintptr_t)value;
    if (v <= k || v - k > 4096 || key[key_size] != '\0')
        return false;
    for (const char *p = key + key_size + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            return false;
    return true;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
    struct fields *f = cls;
    (void)kind;
    if (key_size == 0) { /* 0.9.75 drops these lines; the layout checks find them */
        f->problem = "a header field with an empty name";
        return MHD_NO;
    }
    for (size_t i = 0; i < key_size; i++)
        if (!is_tchar((unsigned char)key[i])) {
            f->problem = "a header field name that is not a token (whitespace before the "
                         "colon?)";
            return MHD_NO;
        }
    for (size_t i = 0; i < value_size; i++)
        if (is_ctl((unsigned char)value[i])) {
            f->problem = "a control character in a header field value";
            return MHD_NO;
        }
    if (layout_checks) {
        if (!value_follows_name(key, key_size, value)) {
            f->problem = "a header field folded over several lines (obs-fold)";
            return MHD_NO;
        }
        /* each line right after the one before (the library's read buffer grows in place):
         * a gap is a line it did not pass on (an empty name), a NUL or a bare LF */
        if (key != f->next) {
            f->problem = "a header line with an empty name, a NUL byte or a bare LF";
            return MHD_NO;
        }
        f->next = value + value_size + 2;
        /* value[value_size] replaced the CR of CRLF; the next byte replaced the LF.  Any
         * other byte there: the line held a NUL, or ended with a bare LF. */
        if (value[value_size + 1] != '\0') {
            f->problem = "a NUL byte in a header field, or a line ended by a bare LF";
            return MHD_NO;
        }
    }
    if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
        f->host++;
        f->host_value = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        f->cl++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->te++;
        f->te_value = value;
        f->te_len = value_size;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION)) {
        f->authz++;
    }
    return MHD_YES;
}

/* RFC 9112 §3.2 / RFC 3986 §3.2.2: host [":" port]; reg-name, IPv4 or an IP literal. */
static bool host_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        unsigned char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  strchr("-._~!$&'()*+,;=:[]%", c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

enum gate_te gate_transfer_coding(const char *v, size_t len, const char **problem)
{
    bool other = false;
    *problem = NULL;
    if (len == 7 && !strncasecmp(v, "chunked", 7))
        return GATE_TE_CHUNKED;
    const char *p = v, *end = v + len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b) {
            *problem = "an empty element in Transfer-Encoding";
            return GATE_TE_BAD;
        }
        for (const char *q = a; q < b; q++)
            if (!is_tchar((unsigned char)*q)) {
                *problem = "a Transfer-Encoding that is not a list of codings";
                return GATE_TE_BAD;
            }
        if ((size_t)(b - a) != 7 || strncasecmp(a, "chunked", 7) != 0)
            other = true;
        p = e + 1;
    }
    if (other) {
        *problem = "a transfer coding other than chunked";
        return GATE_TE_UNSUPPORTED;
    }
    *problem = "a Transfer-Encoding other than exactly `chunked`";
    return GATE_TE_BAD;
}

/* Queues the refusal: the problem, and Connection: close (the library then reads nothing
 * more from this connection, a body announced or not). */
static const char *refuse(struct http_req *r, enum reply_error e, const char *reason,
                          const char *detail)
{
    static const char *const close_hdr[] = {MHD_HTTP_HEADER_CONNECTION, "close", NULL};
    log_debug("request refused by the gate: %s", detail);
    json_t *extra = json_pack("{s:s}", "reason", reason);
    reply_problem(r, e, detail, extra, close_hdr);
    return NULL;
}

#define BAD(reason, detail) refuse(r, REPLY_BAD_MESSAGE, reason, detail)

const char *gate_check(struct http_req *r, const char *url, const char *method, const char *version)
{
    struct gate_uri *g = &r->gate;
    bool http10 = !strcmp(version, MHD_HTTP_VERSION_1_0);
    if (g->problem)
        return BAD("bad-target", g->problem);
    if (layout_checks) {
        /* method SP target SP version CRLF, each in place in the request buffer */
        size_t vl = strlen(version);
        if (method + strlen(method) + 1 != url || url + g->raw_len + 1 != version)
            return BAD("bad-request-line",
                       "a NUL byte or a run of spaces in the request line (RFC 9112 §3)");
        if (version[vl + 1] != '\0')
            return BAD("bad-request-line", "a request line ended by a bare LF (RFC 9112 §2.2)");
    }
    struct fields f = {0};
    f.next = version + strlen(version) + 2;
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, on_field, &f);
    if (f.problem)
        return BAD("bad-field", f.problem);
    /* after the last line passed on comes the empty line (CR LF, both replaced by NUL):
     * anything else is a line the library dropped (an empty name), or a bare LF */
    if (layout_checks && (f.next[0] != '\0' || f.next[1] != '\0'))
        return BAD("bad-field", "a header line with an empty name, or a bare LF");
    if (f.host > 1)
        return BAD("repeated-host", "more than one Host header field (RFC 9112 §3.2)");
    if (f.host == 0 && !http10)
        return BAD("missing-host", "an HTTP/1.1 request without Host (RFC 9112 §3.2)");
    if (f.host == 1 && !host_value_ok(f.host_value))
        return BAD("bad-host", "a Host value that is not host[:port] (RFC 9112 §3.2)");
    if (f.authz > 1)
        return BAD("repeated-authorization",
                   "more than one Authorization header field (RFC 9110 §11.6.2)");
    if (f.cl > 1)
        return BAD("repeated-content-length",
                   "more than one Content-Length header field (RFC 9112 §6.3)");
    if (f.te > 1)
        return BAD("repeated-transfer-encoding",
                   "more than one Transfer-Encoding header field (RFC 9112 §6.1)");
    if (f.te) {
        if (http10)
            return BAD("te-in-http10", "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)");
        if (f.cl)
            return BAD("te-with-content-length",
                       "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)");
        const char *p;
        enum gate_te te = gate_transfer_coding(f.te_value, f.te_len, &p);
        if (te == GATE_TE_UNSUPPORTED)
            return refuse(r, REPLY_UNSUPPORTED_TRANSFER_CODING, "unsupported-transfer-coding",
                          "only the chunked transfer coding is accepted (RFC 9112 §6.1)");
        if (te == GATE_TE_BAD)
            return BAD("bad-transfer-encoding", p);
    }
    if (g->authority) {
        const char *path = url + g->authority;
        return *path ? path : "/";
    }
    return url;
}
