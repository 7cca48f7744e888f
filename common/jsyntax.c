/* jsyntax.c — the strict JSON syntax check of the save fast path (see jsyntax.h). */
#include "common/jsyntax.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef const unsigned char *cur;

unsigned char jsyntax_plain[256], jsyntax_skim[256];

static void tables_init(void)
{
    unsigned char *plain = jsyntax_plain, *skim = jsyntax_skim;
    for (int c = 0; c < 256; c++) {
        plain[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
        skim[c] = c != 0 && c != '"' && c != '{' && c != '[' && c != '}' && c != ']';
    }
}

static cur ws(cur p, cur e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

/* Length of one strict UTF-8 sequence of 2-4 bytes at p, or 0. */
static size_t utf8_seq(cur p, cur e)
{
    unsigned c = p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(e - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return n;
}

/* A string from its opening quote: past the closing quote, or NULL.  \u0000 and escaped
 * surrogates are left to the reference. */
static cur str1(cur p, cur e, bool *esc)
{
    *esc = false;
    for (p++;;) {
        while (jsyntax_plain[*p])
            p++;
        if (p >= e)
            return NULL;
        unsigned c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, e);
            if (!n)
                return NULL;
            p += n;
            continue;
        }
        *esc = true;
        if (++p >= e)
            return NULL;
        if (*p == 'u') {
            unsigned v = 0;
            if (e - p < 5)
                return NULL;
            for (int i = 1; i <= 4; i++) {
                int h = hexval(p[i]);
                if (h < 0)
                    return NULL;
                v = v * 16 + (unsigned)h;
            }
            if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
                return NULL;
            p += 5;
        } else if (strchr("\"\\/bfnrt", *p) && *p) {
            p++;
        } else {
            return NULL;
        }
    }
}

static bool digit(cur p, cur e)
{
    (void)e; /* the sentinel stops every run of digits */
    return *p >= '0' && *p <= '9';
}

/* A number; NULL also for those jansson could refuse as out of range. */
static cur num1(cur p, cur e)
{
    cur s = p;
    bool real = false;
    if (p < e && *p == '-')
        p++;
    if (!digit(p, e))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (digit(p, e))
            p++;
    size_t int_len = (size_t)(p - s);
    if (p < e && *p == '.') {
        real = true;
        cur d = ++p;
        while (digit(p, e))
            p++;
        if (p == d)
            return NULL;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        cur d = p;
        long ex = 0;
        while (digit(p, e)) {
            if (ex < 100000)
                ex = ex * 10 + (*p - '0');
            p++;
        }
        if (p == d || ex > 200)
            return NULL;
    }
    if (real ? (size_t)(p - s) > 64 : int_len > 18)
        return NULL;
    return p;
}

static cur lit1(cur p, cur e, const char *word, size_t n)
{
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static cur val1(struct jsyntax *c, cur p, int depth);

static cur obj1(struct jsyntax *c, cur p, int depth)
{
    cur e = c->end;
    size_t base = c->nkeys;
    if (depth > JSYNTAX_MAX_DEPTH)
        return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        bool esc;
        if (p >= e || *p != '"')
            return NULL;
        cur k = p + 1, q = str1(p, e, &esc);
        if (!q || esc)
            return NULL;
        size_t kn = (size_t)(q - 1 - k);
        for (size_t i = base; i < c->nkeys; i++)
            if (c->keys[i].n == kn && memcmp(c->keys[i].p, k, kn) == 0)
                return NULL; /* duplicate key */
        if (c->nkeys - base >= JSYNTAX_MAX_KEYS || c->nkeys >= JSYNTAX_KEY_STACK)
            return NULL;
        c->keys[c->nkeys].p = k;
        c->keys[c->nkeys++].n = kn;
        p = ws(q, e);
        if (p >= e || *p != ':')
            return NULL;
        cur v = ws(p + 1, e);
        if (!(p = val1(c, v, depth)))
            return NULL;
        if (depth == 1) { /* the body's members, for pass 2 */
            struct jsyntax_member *m = &c->top[c->ntop++];
            m->k = k;
            m->kn = kn;
            m->v = v;
            m->ve = p;
        }
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') {
            c->nkeys = base;
            return p + 1;
        }
        return NULL;
    }
}

static cur arr1(struct jsyntax *c, cur p, int depth)
{
    cur e = c->end;
    if (depth > JSYNTAX_MAX_DEPTH)
        return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == ']')
        return p + 1;
    for (;;) {
        if (!(p = val1(c, p, depth)))
            return NULL;
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        return p < e && *p == ']' ? p + 1 : NULL;
    }
}

static cur val1(struct jsyntax *c, cur p, int depth)
{
    cur e = c->end;
    bool esc;
    if (p >= e)
        return NULL;
    switch (*p) {
    case '{':
        return obj1(c, p, depth + 1);
    case '[':
        return arr1(c, p, depth + 1);
    case '"':
        return str1(p, e, &esc);
    case 't':
        return lit1(p, e, "true", 4);
    case 'f':
        return lit1(p, e, "false", 5);
    case 'n':
        return lit1(p, e, "null", 4);
    default:
        return num1(p, e);
    }
}

bool jsyntax_check(struct jsyntax *c, const char *body, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tables_init);
    c->ntop = c->nkeys = 0;
    if (!body || len == 0 || body[len] != '\0')
        return false;
    cur b = (cur)body, e = b + len;
    c->end = e;
    cur p = val1(c, ws(b, e), 0);
    return p && ws(p, e) == e;
}
