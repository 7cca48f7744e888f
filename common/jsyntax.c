/* jsyntax.c — the strict JSON syntax check of the save fast path (see jsyntax.h).
 *
 * Every loop stops at the sentinel NUL at body[len] (no JSON token contains a NUL), so the
 * scanners compare bytes without checking the end first; only the block scanner of strings
 * (16 or 8 bytes at a time) and the literals check the room left. */
#include "common/jsyntax.h"

#include "common/grow.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef const unsigned char *cur;

static inline bool plain_byte(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Portable: 8 bytes at a time (loaded with memcpy: no unaligned access), then byte by byte
 * from the block that holds a byte that is not plain. */
static inline cur run_word(cur p, cur e)
{
    const uint64_t ones = 0x0101010101010101u, lo7 = 0x7F7F7F7F7F7F7F7Fu, hi = ones << 7;
    while (e - p >= 8) {
        uint64_t x, q, s, c;
        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        s = x ^ (ones * '\\');
        c = x & (ones * 0xE0);
        /* high bit of a byte of ((y & lo7) + lo7) | y: that byte of y is not zero */
        uint64_t nz = (((q & lo7) + lo7) | q) & (((s & lo7) + lo7) | s) & (((c & lo7) + lo7) | c);
        if ((~nz | x) & hi)
            break;
        p += 8;
    }
    while (p < e && plain_byte(*p))
        p++;
    return p;
}

static inline cur run_fast(cur p, cur e)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: bytes >= 0x80 are negative, so below 0x20 too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
    return run_word(p, e);
}

cur jsyntax_plain_run(cur p, cur e)
{
    return run_fast(p, e);
}

cur jsyntax_plain_run_word(cur p, cur e)
{
    return run_word(p, e);
}

static inline cur ws(cur p)
{
    while (*p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static inline int hexval(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    c |= 0x20;
    return c - 'a' < 6u ? (int)(c - 'a' + 10) : -1;
}

size_t jsyntax_utf8_seq(cur p, cur e)
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
static inline __attribute__((always_inline)) cur str1(cur p, cur e, bool *esc)
{
    *esc = false;
    for (p++;;) {
        p = run_fast(p, e);
        unsigned c = *p; /* the sentinel when p == e */
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            size_t n = jsyntax_utf8_seq(p, e);
            if (!n)
                return NULL;
            p += n;
            continue;
        }
        *esc = true; /* a backslash */
        switch (*++p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p++;
            break;
        case 'u': {
            unsigned v = 0;
            for (int i = 1; i <= 4; i++) { /* stops at the sentinel */
                int h = hexval(p[i]);
                if (h < 0)
                    return NULL;
                v = v * 16 + (unsigned)h;
            }
            if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
                return NULL;
            p += 5;
            break;
        }
        default:
            return NULL;
        }
    }
}

static inline bool digit(unsigned c)
{
    return c - '0' < 10u;
}

/* Past the run of digits at p (the sentinel ends it).  Byte by byte: the numbers of a room
 * are short, and an 8-byte word test cost more instructions than it saved there. */
static inline cur digits(cur p)
{
    while (digit(*p))
        p++;
    return p;
}

/* A number; NULL also for those jansson could refuse as out of range. */
static inline __attribute__((always_inline)) cur num1(cur p, uint32_t *kind)
{
    cur s = p;
    bool neg = *p == '-';
    p += neg;
    if (*p == '0')
        p++;
    else if ((unsigned)(*p - '1') < 9u)
        p = digits(p + 1);
    else
        return NULL;
    size_t int_len = (size_t)(p - s);
    if (*p != '.' && (*p | 0x20) != 'e') { /* an integer */
        *kind = neg ? JSYNTAX_NUMBER : JSYNTAX_UINT;
        return int_len > 18 ? NULL : p;
    }
    *kind = JSYNTAX_NUMBER;
    if (*p == '.') {
        cur d = ++p;
        p = digits(p);
        if (p == d)
            return NULL;
    }
    if ((*p | 0x20) == 'e') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        cur d = p;
        long ex = 0;
        while (digit(*p)) {
            if (ex < 100000)
                ex = ex * 10 + (*p - '0');
            p++;
        }
        if (p == d || ex > 200)
            return NULL;
    }
    return (size_t)(p - s) > 64 ? NULL : p;
}

static cur lit1(cur p, cur e, const char *word, size_t n)
{
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* The tape's first sizes (grow.h's first), from the body's length: a room document has about
 * one member per 22 bytes and a container per 56 (compact), so most bodies need one
 * allocation each.  Computed only when the tape grows (once or twice a body). */
static size_t first_mem(const struct jsyntax *c)
{
    return (size_t)(c->end - c->b) / 20 + 64;
}

static size_t first_nodes(const struct jsyntax *c)
{
    return (size_t)(c->end - c->b) / 48 + 16;
}

/* A new node (its fields are set when it closes); SIZE_MAX when out of memory. */
static inline size_t node_open(struct jsyntax *c)
{
    if (c->nnode == c->node_cap && grow_array(&c->node, &c->node_cap, c->nnode + 1, sizeof *c->node,
                                              first_nodes(c), UINT32_MAX) != 0)
        return SIZE_MAX;
    return c->nnode++;
}

static inline void node_close(struct jsyntax *c, size_t self, uint8_t kind, uint32_t first,
                              uint32_t n, unsigned height, bool numbers)
{
    struct jsyntax_node *nd = &c->node[self];
    nd->first = first;
    nd->n = n;
    nd->next = (uint32_t)c->nnode;
    nd->height = (uint16_t)height;
    nd->kind = kind;
    nd->numbers = numbers;
}

/* A bit for a key k[kn] (q: past its closing quote) in a 64-bit set of an object's keys:
 * equal keys get the same bit, so a key whose bit is not set yet is no duplicate (the usual
 * case: no compares).  Its first and last bytes and its length (for "", the two quotes). */
static inline uint64_t key_bit(cur k, cur q, size_t kn)
{
    return (uint64_t)1 << ((k[0] + 3u * q[-2] + 5u * (unsigned)kn) & 63);
}

static inline __attribute__((always_inline)) cur val1(struct jsyntax *c, cur p, int depth,
                                                      uint32_t *kind, unsigned *height);

/* After a value of height vh in a container closed by close (*h: the highest so far): past
 * a ',' and whitespace (1: another value follows), at the closing byte (0), or -1. */
static inline int after_value(cur *pp, unsigned char close, unsigned vh, unsigned *h)
{
    cur p = ws(*pp);
    if (vh > *h)
        *h = vh;
    if (*p == ',') {
        *pp = ws(p + 1);
        return 1;
    }
    *pp = p;
    return *p == close ? 0 : -1;
}

static __attribute__((noinline)) cur obj1(struct jsyntax *c, cur p, int depth, unsigned *height)
{
    cur b = c->b, e = c->end;
    size_t base = c->nstk, self;
    uint64_t seen = 0;
    unsigned h = 0;
    if (depth > JSYNTAX_MAX_DEPTH || (self = node_open(c)) == SIZE_MAX)
        return NULL;
    p = ws(p + 1);
    if (*p != '}')
        for (;;) {
            bool esc;
            if (*p != '"')
                return NULL;
            cur k = p + 1, q = str1(p, e, &esc);
            if (!q || esc)
                return NULL;
            size_t kn = (size_t)(q - 1 - k);
            uint64_t bit = key_bit(k, q, kn);
            if (seen & bit)
                for (size_t i = base; i < c->nstk; i++)
                    if (c->stk[i].kn == kn && memcmp(b + c->stk[i].k, k, kn) == 0)
                        return NULL; /* duplicate key */
            seen |= bit;
            if (c->nstk - base >= JSYNTAX_MAX_KEYS || c->nstk >= JSYNTAX_KEY_STACK)
                return NULL;
            struct jsyntax_member *m = &c->stk[c->nstk++];
            m->k = (uint32_t)(k - b);
            m->kn = (uint32_t)kn;
            p = ws(q);
            if (*p != ':')
                return NULL;
            p = ws(p + 1);
            m->v = (uint32_t)(p - b);
            m->node = (uint32_t)c->nnode;
            unsigned vh;
            if (!(p = val1(c, p, depth, &m->kind, &vh)))
                return NULL;
            m->ve = (uint32_t)(p - b);
            int more = after_value(&p, '}', vh, &h);
            if (more < 0)
                return NULL;
            if (!more)
                break;
        }
    size_t n = c->nstk - base;
    if (n > c->mem_cap - c->nmem && grow_array(&c->mem, &c->mem_cap, c->nmem + n, sizeof *c->mem,
                                               first_mem(c), UINT32_MAX) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) /* a few members: no call */
        c->mem[c->nmem + i] = c->stk[base + i];
    node_close(c, self, JSYNTAX_OBJECT, (uint32_t)c->nmem, (uint32_t)n, h + 1, false);
    c->nmem += n;
    c->nstk = base;
    *height = h + 1;
    return p + 1;
}

static __attribute__((noinline)) cur arr1(struct jsyntax *c, cur p, int depth, unsigned *height)
{
    size_t self, n = 0;
    unsigned h = 0;
    bool numbers = true;
    if (depth > JSYNTAX_MAX_DEPTH || (self = node_open(c)) == SIZE_MAX)
        return NULL;
    p = ws(p + 1);
    if (*p != ']')
        for (;;) {
            uint32_t kind;
            unsigned vh;
            if (!(p = val1(c, p, depth, &kind, &vh)))
                return NULL;
            n++;
            numbers = numbers && (kind == JSYNTAX_UINT || kind == JSYNTAX_NUMBER);
            int more = after_value(&p, ']', vh, &h);
            if (more < 0)
                return NULL;
            if (!more)
                break;
        }
    node_close(c, self, JSYNTAX_ARRAY, 0, (uint32_t)n, h + 1, numbers);
    *height = h + 1;
    return p + 1;
}

static inline __attribute__((always_inline)) cur val1(struct jsyntax *c, cur p, int depth,
                                                      uint32_t *kind, unsigned *height)
{
    cur e = c->end;
    bool esc;
    *height = 0;
    switch (*p) {
    case '{':
        *kind = JSYNTAX_OBJECT;
        return obj1(c, p, depth + 1, height);
    case '[':
        *kind = JSYNTAX_ARRAY;
        return arr1(c, p, depth + 1, height);
    case '"':
        p = str1(p, e, &esc);
        *kind = esc ? JSYNTAX_STRING_ESC : JSYNTAX_STRING;
        return p;
    case 't':
        *kind = JSYNTAX_TRUE;
        return lit1(p, e, "true", 4);
    case 'f':
        *kind = JSYNTAX_FALSE;
        return lit1(p, e, "false", 5);
    case 'n':
        *kind = JSYNTAX_NULL;
        return lit1(p, e, "null", 4);
    default:
        return num1(p, kind);
    }
}

bool jsyntax_check(struct jsyntax *c, const char *body, size_t len)
{
    c->nmem = c->nnode = c->nstk = 0;
    if (!body || len == 0 || len >= JSYNTAX_MAX_LEN || body[len] != '\0')
        return false;
    cur b = (cur)body, e = b + len;
    c->b = b;
    c->end = e;
    uint32_t kind;
    unsigned h;
    cur p = val1(c, ws(b), 0, &kind, &h);
    return p && ws(p) == e;
}

void jsyntax_free(struct jsyntax *c)
{
    free(c->mem);
    free(c->node);
    c->mem = NULL;
    c->node = NULL;
    c->nmem = c->mem_cap = c->nnode = c->node_cap = 0;
}
