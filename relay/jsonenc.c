/* jsonenc.c — compact JSON encoding with shortest round-trip reals (see jsonenc.h). */
#include "relay/jsonenc.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct out {
    char *buf;
    size_t size, len;
    bool bad;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_char(struct out *o, char c)
{
    if (o->len < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put_char(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(o, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        put(o, esc, elen);
    }
    put(o, s + run, n - run);
    put_char(o, '"');
}

static void put_real(struct out *o, double d)
{
    if (!isfinite(d)) {
        o->bad = true;
        return;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
    }
    put(o, tmp, (size_t)n);
    if (!strpbrk(tmp, ".eE")) /* keep it a real when read back */
        put(o, ".0", 2);
}

static void put_value(struct out *o, const json_t *v, int depth)
{
    char tmp[32];
    if (depth > MAX_DEPTH) {
        o->bad = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        put_char(o, '{');
        json_object_foreach((json_t *)v, k, x)
        {
            if (!first)
                put_char(o, ',');
            first = false;
            put_string(o, k, strlen(k));
            put_char(o, ':');
            put_value(o, x, depth + 1);
        }
        put_char(o, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        put_char(o, '[');
        json_array_foreach(v, i, x)
        {
            if (i)
                put_char(o, ',');
            put_value(o, x, depth + 1);
        }
        put_char(o, ']');
        break;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(o, tmp, (size_t)n);
        break;
    }
    case JSON_REAL:
        put_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    }
}

size_t jsonenc_dump(const json_t *v, char *buf, size_t size)
{
    struct out o = {.buf = buf, .size = size};
    if (!v)
        return 0;
    put_value(&o, v, 0);
    return o.bad ? 0 : o.len;
}
