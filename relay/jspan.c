/* jspan.c — spans of already-parsed JSON text (see jspan.h). */
#include "relay/jspan.h"

#include <string.h>

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote: the byte after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *e, bool *escaped)
{
    for (p++; p < e; p++) {
        if (*p == '\\') {
            if (escaped)
                *escaped = true;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* p at a value's first byte: the byte after its last, or NULL. */
static const char *skip_value(const char *p, const char *e)
{
    if (p >= e)
        return NULL;
    if (*p == '"')
        return skip_string(p, e, NULL);
    if (*p != '{' && *p != '[') { /* number or literal: up to the next delimiter */
        const char *s = p;
        while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r')
            p++;
        return p > s ? p : NULL;
    }
    int depth = 0;
    while (p < e) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, e, NULL);
            if (!p)
                return NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* Shared loop of arrays and objects: open/close brackets, members separated by commas. */
static int scan(const char *text, size_t len, char open, char close, struct jspan *elems,
                struct jmember *members, int max)
{
    const char *p = skip_ws(text, text + len), *e = text + len;
    if (p >= e || *p != open)
        return -1;
    p = skip_ws(p + 1, e);
    int count = 0;
    if (p < e && *p == close)
        return skip_ws(p + 1, e) == e ? 0 : -1;
    for (;;) {
        struct jmember m = {{NULL, 0}, {NULL, 0}, false};
        if (members) {
            if (p >= e || *p != '"')
                return -1;
            const char *k = skip_string(p, e, &m.key_escaped);
            if (!k)
                return -1;
            m.key.p = p + 1;
            m.key.n = (size_t)(k - p - 2);
            p = skip_ws(k, e);
            if (p >= e || *p != ':')
                return -1;
            p = skip_ws(p + 1, e);
        }
        const char *v = skip_value(p, e);
        if (!v)
            return -1;
        m.value.p = p;
        m.value.n = (size_t)(v - p);
        if (count < max) {
            if (members)
                members[count] = m;
            else
                elems[count] = m.value;
        }
        count++;
        p = skip_ws(v, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == close)
            return skip_ws(p + 1, e) == e ? count : -1;
        return -1;
    }
}

int jspan_array(const char *text, size_t len, struct jspan *out, int max)
{
    return scan(text, len, '[', ']', out, NULL, max);
}

int jspan_object(const char *text, size_t len, struct jmember *out, int max)
{
    return scan(text, len, '{', '}', NULL, out, max);
}

bool jspan_key_is(const struct jmember *m, const char *name)
{
    size_t n = strlen(name);
    return !m->key_escaped && m->key.n == n && memcmp(m->key.p, name, n) == 0;
}
