/* precond.c — If-Match / If-None-Match parsing (see precond.h). */
#include "server/precond.h"

#include <stdio.h>
#include <string.h>

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

void precond_parse(const char *h, bool weak_ok, struct precond *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return;
    out->kind = PRECOND_LIST;
    const char *p = skip_ows(h);
    if (*p == '*' && *skip_ows(p + 1) == '\0') {
        out->kind = PRECOND_ANY;
        return;
    }
    while (*p) {
        bool weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        if (*p != '"')
            goto malformed;
        const char *q = strchr(p + 1, '"');
        if (!q)
            goto malformed;
        /* a version tag: 1..18 digits, no leading zero */
        size_t n = (size_t)(q - p - 1);
        bool digits = n > 0 && n <= 18 && p[1] != '0';
        int64_t v = 0;
        for (size_t i = 0; digits && i < n; i++) {
            if (p[1 + i] < '0' || p[1 + i] > '9')
                digits = false;
            else
                v = v * 10 + (p[1 + i] - '0');
        }
        if (digits && (!weak || weak_ok) && out->n < PRECOND_MAX_TAGS)
            out->versions[out->n++] = v;
        p = skip_ows(q + 1);
        if (*p == ',')
            p = skip_ows(p + 1);
        else if (*p)
            goto malformed;
    }
    return;
malformed:
    out->n = 0;
}

bool precond_matches(const struct precond *p, int64_t version)
{
    if (p->kind == PRECOND_ANY)
        return true;
    for (size_t i = 0; i < p->n; i++)
        if (p->versions[i] == version)
            return true;
    return false;
}

void precond_etag(int64_t version, char *out, size_t size)
{
    snprintf(out, size, "\"%lld\"", (long long)version);
}
