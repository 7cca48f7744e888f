/* grow.c — bounded growth of arrays and byte buffers (see grow.h). */
#include "common/grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int grow_array(void *items, size_t *cap, size_t need, size_t elem_size, size_t first, size_t max)
{
    void *old;
    if (need <= *cap)
        return 0;
    if (need > max || elem_size == 0 || max > SIZE_MAX / elem_size)
        return GROW_OVER_CAP;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need)
        ncap = ncap > max / 2 ? max : ncap * 2; /* max * elem_size fits: checked above */
    if (ncap > max)
        ncap = max;
    memcpy(&old, items, sizeof old); /* items is a T **: read and write it as bytes */
    void *nb = realloc(old, ncap * elem_size);
    if (!nb)
        return GROW_NO_MEMORY;
    memcpy(items, &nb, sizeof nb);
    *cap = ncap;
    return 0;
}

int gbuf_reserve(struct gbuf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return GROW_OVER_CAP;
    /* + 1 for the NUL; max + 1 cannot overflow: max <= SIZE_MAX - 1 is checked here */
    if (b->max == SIZE_MAX)
        return GROW_OVER_CAP;
    size_t need = b->len + n + 1;
    size_t first = GBUF_FIRST < b->max + 1 ? GBUF_FIRST : b->max + 1;
    return grow_array(&b->data, &b->cap, need, 1, first, b->max + 1);
}

int gbuf_append(struct gbuf *b, const void *src, size_t n)
{
    int rc = gbuf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void gbuf_reset(struct gbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void gbuf_free(struct gbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
