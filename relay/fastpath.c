/* fastpath.c — REP_TRANSFORM without a JSON tree (issue 6 target 4): jansson's json_loadb
 * was over half of the relay's instructions per received transform (≈58k of ≈70k).  A
 * single pass over the text accepts exactly one shape — {"op":30, then "seq" (integer
 * >= 0), "t" (number), "head", "left", "right" ({"p":[3 numbers],"r":[4 numbers]}) in any
 * order, each at most once, head required, JSON whitespace between tokens, ASCII only —
 * and hands back seq and head.p; anything else (another key, an escape, a duplicate, a
 * number jansson would refuse or that is not finite, a wrong count) returns false and the
 * caller takes the JSON path, which answers errors as before.  What is accepted is relayed
 * from the sender's text exactly as the JSON path relays it (repl.c's raw_relay). */
#include "relay/room_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"

#define FP_PREFIX "{\"op\":30,"
#define FP_MAX_NUM 40 /* longer number tokens take the JSON path */

struct fp_scan {
    const char *s, *e;
};

static void fp_ws(struct fp_scan *c)
{
    while (c->s < c->e && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

static bool fp_lit(struct fp_scan *c, char ch)
{
    fp_ws(c);
    if (c->s < c->e && *c->s == ch) {
        c->s++;
        return true;
    }
    return false;
}

/* "name": with name of 1..7 lowercase letters (no escapes). */
static bool fp_key(struct fp_scan *c, char *buf, size_t cap)
{
    if (!fp_lit(c, '"'))
        return false;
    size_t n = 0;
    while (c->s < c->e && *c->s >= 'a' && *c->s <= 'z' && n + 1 < cap)
        buf[n++] = *c->s++;
    buf[n] = '\0';
    if (n == 0 || c->s >= c->e || *c->s != '"')
        return false;
    c->s++;
    return fp_lit(c, ':');
}

static bool fp_digit(const char *p, const char *e)
{
    return p < e && *p >= '0' && *p <= '9';
}

/* A JSON number; *v its finite value (v NULL: not needed; strtod runs only when there is an
 * exponent, the one way for a short token to be infinite), *u its value when it is a
 * non-negative integer token (no fraction or exponent), *is_uint whether it is one.  Integer
 * tokens of more than 18 digits are refused (jansson's integers are long long). */
static bool fp_number(struct fp_scan *c, double *v, uint64_t *u, bool *is_uint)
{
    bool expo = false;
    fp_ws(c);
    const char *p = c->s, *e = c->e, *start = c->s;
    bool neg = false, integer = true;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (!fp_digit(p, e))
        return false;
    const char *digits = p;
    if (*p == '0')
        p++;
    else
        while (fp_digit(p, e))
            p++;
    size_t ndigits = (size_t)(p - digits);
    if (p < e && *p == '.') {
        integer = false;
        p++;
        if (!fp_digit(p, e))
            return false;
        while (fp_digit(p, e))
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        integer = false;
        expo = true;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (!fp_digit(p, e))
            return false;
        while (fp_digit(p, e))
            p++;
    }
    size_t len = (size_t)(p - start);
    if (len >= FP_MAX_NUM || (integer && ndigits > 18))
        return false;
    if (v || expo) {
        char buf[FP_MAX_NUM];
        memcpy(buf, start, len);
        buf[len] = '\0';
        char *end = NULL;
        double d = strtod(buf, &end);
        if (end != buf + len || !isfinite(d))
            return false;
        if (v)
            *v = d;
    }
    *is_uint = integer && !neg;
    if (*is_uint) {
        uint64_t x = 0;
        for (const char *q = digits; q < digits + ndigits; q++)
            x = x * 10 + (uint64_t)(*q - '0');
        *u = x;
    }
    c->s = p;
    return true;
}

/* [n numbers] into out (may be NULL). */
static bool fp_vec(struct fp_scan *c, size_t n, double *out)
{
    if (!fp_lit(c, '['))
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        bool is_uint;
        if (!fp_number(c, out ? &out[i] : NULL, &u, &is_uint))
            return false;
        if (i + 1 < n && !fp_lit(c, ','))
            return false;
    }
    return fp_lit(c, ']');
}

/* {"p":[3],"r":[4]} in either order; p into pos (may be NULL). */
static bool fp_pose(struct fp_scan *c, double *pos)
{
    bool seen_p = false, seen_r = false;
    if (!fp_lit(c, '{'))
        return false;
    do {
        char k[8];
        if (!fp_key(c, k, sizeof k))
            return false;
        if (!strcmp(k, "p") && !seen_p) {
            seen_p = true;
            if (!fp_vec(c, 3, pos))
                return false;
        } else if (!strcmp(k, "r") && !seen_r) {
            seen_r = true;
            if (!fp_vec(c, 4, NULL))
                return false;
        } else {
            return false;
        }
    } while (fp_lit(c, ','));
    return seen_p && seen_r && fp_lit(c, '}');
}

bool fastpath_scan_transform(const char *text, size_t len, struct fastpath_transform *out)
{
    size_t pl = strlen(FP_PREFIX);
    if (len <= pl || memcmp(text, FP_PREFIX, pl) != 0)
        return false;
    struct fp_scan c = {text + pl, text + len};
    unsigned seen = 0; /* 1 seq, 2 t, 4 head, 8 left, 16 right */
    do {
        char k[8];
        if (!fp_key(&c, k, sizeof k))
            return false;
        unsigned bit;
        bool ok;
        if (!strcmp(k, "seq")) {
            bool is_uint = false;
            bit = 1;
            ok = fp_number(&c, NULL, &out->seq, &is_uint) && is_uint;
        } else if (!strcmp(k, "t")) {
            uint64_t u;
            bool is_uint;
            bit = 2;
            ok = fp_number(&c, NULL, &u, &is_uint);
        } else if (!strcmp(k, "head")) {
            bit = 4;
            ok = fp_pose(&c, out->head);
        } else if (!strcmp(k, "left")) {
            bit = 8;
            ok = fp_pose(&c, NULL);
        } else if (!strcmp(k, "right")) {
            bit = 16;
            ok = fp_pose(&c, NULL);
        } else {
            return false;
        }
        if (!ok || (seen & bit))
            return false;
        seen |= bit;
    } while (fp_lit(&c, ','));
    if (!fp_lit(&c, '}'))
        return false;
    fp_ws(&c);
    return c.s == c.e && (seen & 1) && (seen & 4);
}

void fastpath_transform(struct relay_peer *p, const struct fastpath_transform *tf, int64_t now_ms)
{
    struct seat *s = p->seat;
    if (s->tf_seen && tf->seq <= s->tf_seq) {
        peer_drop(p, RELAY_DROP_STALE);
        return;
    }
    struct relay_msg *m = repl_raw_forward(p, OP_REP_TRANSFORM, now_ms);
    if (!m) {
        peer_request_close(p, RELAY_CLOSE_INTERNAL, "internal");
        return;
    }
    s->tf_seen = true;
    s->tf_seq = tf->seq;
    memcpy(s->head, tf->head, sizeof s->head);
    s->head_known = true;
    if (s->tf_msg && s->tf_tick == p->hub->tick)
        peer_drop(p, RELAY_DROP_COALESCED);
    relay_msg_unref(s->tf_msg);
    s->tf_msg = m;
    s->tf_tick = p->hub->tick;
}
