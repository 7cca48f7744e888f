/* roomerr.c — problems with their JSON paths (see roomerr.h). */
#include "common/roomerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Cuts a NUL-terminated UTF-8 string back so that it does not end inside a sequence. */
static void utf8_trim_tail(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && n - (i - 1) < need)
        s[i - 1] = '\0';
}

/* A bounded text buffer: appends past the end are dropped. */
struct text {
    char *p;
    size_t cap, len;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    size_t room = t->len + 1 < t->cap ? t->cap - 1 - t->len : 0;
    size_t k = n < room ? n : room;
    memcpy(t->p + t->len, s, k);
    t->len += k;
    t->p[t->len] = '\0';
}

static bool is_ident(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return false;
    for (k++; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
              *k == '_'))
            return false;
    return true;
}

/* .name for identifiers (no dot first), ["any key"] (JSON-escaped) otherwise, [i]. */
static void render_seg(struct text *t, const struct roomerr_seg *s)
{
    char b[32];
    if (!s->key) {
        int n = snprintf(b, sizeof b, "[%zu]", s->index);
        text_add(t, b, (size_t)n);
    } else if (is_ident(s->key)) {
        if (t->len)
            text_add(t, ".", 1);
        text_add(t, s->key, strlen(s->key));
    } else {
        text_add(t, "[\"", 2);
        for (const char *p = s->key; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\') {
                b[0] = '\\';
                b[1] = (char)c;
                text_add(t, b, 2);
            } else if (c < 0x20) {
                int n = snprintf(b, sizeof b, "\\u%04x", c);
                text_add(t, b, (size_t)n);
            } else {
                text_add(t, p, 1);
            }
        }
        text_add(t, "\"]", 2);
    }
}

void roomerr_fail(struct roomerr *w, const char *suffix, const char *fmt, ...)
{
    struct roomdoc_errors *e = w->errors;
    e->total++;
    if (e->count >= ROOMDOC_MAX_ERRORS)
        return;
    struct roomdoc_error *it = &e->items[e->count++];
    struct text t = {.p = it->path, .cap = sizeof it->path};
    it->path[0] = '\0';
    size_t n = w->nseg < ROOMERR_MAX_SEGS ? w->nseg : ROOMERR_MAX_SEGS;
    for (size_t i = 0; i < n; i++)
        render_seg(&t, &w->segs[i]);
    if (suffix) {
        struct roomerr_seg s = {.key = suffix};
        render_seg(&t, &s);
    }
    utf8_trim_tail(it->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
    utf8_trim_tail(it->message);
}

const char *roomerr_quote(const char *s, char out[ROOMERR_QUOTE_BYTES + 4])
{
    size_t n = strlen(s);
    if (n <= ROOMERR_QUOTE_BYTES)
        return s;
    memcpy(out, s, ROOMERR_QUOTE_BYTES);
    out[ROOMERR_QUOTE_BYTES] = '\0';
    utf8_trim_tail(out);
    size_t m = strlen(out);
    memcpy(out + m, "...", 4);
    return out;
}

const char *roomerr_type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a number",  [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null"};
    return (unsigned)json_typeof(v) < sizeof names / sizeof *names ? names[json_typeof(v)]
                                                                   : "unknown";
}
