/* jscan.c — single-pass scanner for relay frames (see jscan.h). */
#include "bench/jscan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *e) /* p at the opening quote */
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static bool is_scalar_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '+' ||
           ch == '.' || ch == 'E';
}

/* the bytes skip_value must look at inside a container */
static const bool STRUCTURAL[256] = {
    ['"'] = true, ['{'] = true, ['['] = true, ['}'] = true, [']'] = true};

static const char *skip_value(const char *p, const char *e)
{
    int depth = 0;
    do {
        if (p >= e)
            return NULL;
        char ch = *p;
        if (ch == '"') {
            if (!(p = skip_string(p, e)))
                return NULL;
        } else if (ch == '{' || ch == '[') {
            depth++;
            p++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return NULL;
            depth--;
            p++;
        } else if (depth == 0) {
            const char *s = p;
            while (p < e && is_scalar_char(*p))
                p++;
            return p > s ? p : NULL;
        } else { /* inside a container: run to the next quote or bracket */
            for (p++; p < e && !STRUCTURAL[(unsigned char)*p]; p++)
                ;
        }
    } while (depth > 0);
    return p;
}

/* A number token, through a bounded NUL-terminated copy (strtod never reads past e). */
static const char *scan_number(const char *p, const char *e, double *d)
{
    char buf[48];
    size_t n = 0;
    while (p + n < e && n < sizeof buf - 1 && is_scalar_char(p[n]))
        n++;
    if (n == 0 || n == sizeof buf - 1)
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    *d = strtod(buf, &end);
    if (end != buf + n || errno)
        return NULL;
    return p + n;
}

/* The common case first: [-]digits[.digits], at most 15 digits, no exponent (the generator's
 * own seq, t, epoch ...).  Such a value is m / 10^f with m < 2^53 and f <= 15, both exact in
 * a double, so one division gives the correctly rounded result, the one strtod gives.
 * Returns NULL for anything else, which then goes to scan_number. */
static const char *scan_plain_number(const char *p, const char *e, double *d)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool neg = p < e && *p == '-';
    uint64_t m = 0;
    int digits = 0, frac = 0;
    p += neg;
    for (; p < e && *p >= '0' && *p <= '9'; p++, digits++)
        m = m * 10 + (uint64_t)(*p - '0');
    if (digits == 0)
        return NULL;
    if (p < e && *p == '.') {
        for (p++; p < e && *p >= '0' && *p <= '9'; p++, frac++)
            m = m * 10 + (uint64_t)(*p - '0');
        if (frac == 0)
            return NULL;
    }
    if (digits + frac > 15 || (p < e && is_scalar_char(*p)))
        return NULL;
    *d = (double)m / pow10[frac];
    if (neg)
        *d = -*d;
    return p;
}

static bool key_is(const char *k, size_t kl, const char *name)
{
    return strlen(name) == kl && memcmp(k, name, kl) == 0;
}

static const char *scan_object(const char *p, const char *e, struct jscan_msg *m)
{
    memset(m, 0, sizeof *m);
    if (p >= e || *p != '{')
        return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= e || *p != '"')
            return NULL;
        const char *k = p + 1, *ke = skip_string(p, e);
        if (!ke)
            return NULL;
        size_t kl = (size_t)(ke - 1 - k);
        p = skip_ws(ke, e);
        if (p >= e || *p != ':')
            return NULL;
        p = skip_ws(p + 1, e);
        if (p >= e)
            return NULL;
        double d;
        bool num = *p == '-' || (*p >= '0' && *p <= '9');
        if (num && (key_is(k, kl, "op") || key_is(k, kl, "seq") || key_is(k, kl, "c") ||
                    key_is(k, kl, "t") || key_is(k, kl, "epoch"))) {
            const char *q = scan_plain_number(p, e, &d);
            if (!(p = q ? q : scan_number(p, e, &d)))
                return NULL;
            if (*k == 't') {
                m->t = d, m->has_t = true;
            } else if (d >= -9e15 && d <= 9e15) {
                long long v = (long long)d;
                if (*k == 'o')
                    m->op = v, m->has_op = true;
                else if (*k == 'e')
                    m->epoch = v, m->has_epoch = true;
                else if (*k == 's')
                    m->seq = v, m->has_seq = true;
                else
                    m->c = v, m->has_c = true;
            }
        } else if (*p == '"' &&
                   (key_is(k, kl, "from") || key_is(k, kl, "code") || key_is(k, kl, "object_id"))) {
            const char *s = p + 1, *se = skip_string(p, e);
            if (!se)
                return NULL;
            if (*k == 'f')
                m->from = s, m->from_len = (size_t)(se - 1 - s);
            else if (*k == 'c')
                m->code = s, m->code_len = (size_t)(se - 1 - s);
            else
                m->object_id = s, m->object_id_len = (size_t)(se - 1 - s);
            p = se;
        } else if (!(p = skip_value(p, e))) {
            return NULL;
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        return p < e && *p == '}' ? p + 1 : NULL;
    }
}

int jscan_frame(const char *p, size_t len, jscan_fn fn, void *arg)
{
    const char *e = p + len;
    struct jscan_msg m;
    int count = 0;
    p = skip_ws(p, e);
    if (p < e && *p == '{') {
        if (!(p = scan_object(p, e, &m)))
            return -1;
        count = 1;
        if (fn(arg, &m))
            return count;
        return skip_ws(p, e) == e ? count : -1;
    }
    if (p >= e || *p != '[')
        return -1;
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']')
        return skip_ws(p + 1, e) == e ? 0 : -1;
    for (;;) {
        if (!(p = scan_object(p, e, &m)))
            return -1;
        count++;
        if (fn(arg, &m))
            return count;
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == ']')
            return skip_ws(p + 1, e) == e ? count : -1;
        return -1;
    }
}
