/* grow.h — the one way a buffer or an array of this project grows: capacity doubles from a
 * first size, never past a cap the caller names for that use, and the size arithmetic
 * (count * element size, doubling) is checked for overflow once, here.  On failure nothing
 * changes: the old block, its contents and its capacity stay valid.
 *
 *     struct row *rows = NULL;  size_t n = 0, cap = 0;
 *     if (grow_array(&rows, &cap, n + 1, sizeof *rows, 16, ROWS_MAX) != 0)
 *         return -1;            // over ROWS_MAX, or out of memory
 *     rows[n++] = r;
 *
 *     struct gbuf b = GBUF_INIT(1 << 20);   // at most 1 MiB of data
 *     if (gbuf_append(&b, p, len) != 0) ...  // -1: would pass 1 MiB, or out of memory
 *     use(b.data, b.len);                    // NUL-terminated after len
 *     gbuf_free(&b); */
#ifndef ROOMSTATE_GROW_H
#define ROOMSTATE_GROW_H

#include <stddef.h>

/* items is the address of an array pointer (T **, holding NULL or a malloc'd block of *cap
 * elements of elem_size bytes).  Makes room for at least need elements: *cap becomes the
 * smallest of first, 2*first, 4*first, ... that holds need, clipped to max.  0 on success
 * (also when there is room already); GROW_OVER_CAP when need > max or the size overflows;
 * GROW_NO_MEMORY when realloc fails. */
#define GROW_OVER_CAP (-1)
#define GROW_NO_MEMORY (-2)
int grow_array(void *items, size_t *cap, size_t need, size_t elem_size, size_t first, size_t max)
    __attribute__((warn_unused_result));

/* A byte buffer of at most max data bytes, always NUL-terminated after data[len] once it
 * holds anything.  Zero-initialised (or GBUF_INIT) it is empty; gbuf_free releases it. */
struct gbuf {
    char *data;
    size_t len;
    size_t cap; /* bytes allocated, the NUL included */
    size_t max; /* most data bytes (the terminating NUL not counted) */
};
#define GBUF_INIT(max_bytes)                                                                       \
    {                                                                                              \
        NULL, 0, 0, (max_bytes)                                                                    \
    }
#define GBUF_FIRST 4096 /* the first allocation */

/* Appends n bytes; nothing appended on failure: GROW_OVER_CAP when len + n would pass max,
 * GROW_NO_MEMORY when memory runs out. */
int gbuf_append(struct gbuf *b, const void *src, size_t n) __attribute__((warn_unused_result));
/* Room for at least n more bytes without appending them (e.g. before a read into
 * data + len); the same failures. */
int gbuf_reserve(struct gbuf *b, size_t n) __attribute__((warn_unused_result));
/* Empties b, keeping its memory. */
void gbuf_reset(struct gbuf *b);
/* Frees the memory; b is empty (max kept). */
void gbuf_free(struct gbuf *b);

#endif
