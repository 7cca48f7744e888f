/* store_watch.c — a lock-free "nothing committed since" test on SQLite's wal-index header
 * (see store_watch.h). */
#include "store/store_watch.h"

#include "store/store_sqlite.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The wal-index layout this code knows (sqlite.org/walformat.html): the header is 48 bytes,
 * copied twice at the start of the first 32 KiB region; its first field is the version, and
 * the byte at offset 12 is 1 once the header is initialised. */
#define WALINDEX_VERSION 3007000u
#define WALINDEX_REGION_BYTES 32768
#define WALINDEX_ISINIT_AT 12
#define HDR_WORDS (STORE_WATCH_MARK_BYTES / 4)

struct store_watch {
    sqlite3 *db;                       /* kept open, idle: it owns the mapping */
    const volatile uint32_t *walindex; /* its region 0, mapped by SQLite */
};

bool store_watch_read_header(const volatile void *walindex, struct store_watch_mark *out)
{
    const volatile uint32_t *w = walindex;
    uint32_t first[HDR_WORDS], second[HDR_WORDS];
    /* SQLite writes the second copy, then a full barrier, then the first; so the first is
     * read first, then the second: equal copies are one whole header */
    for (size_t i = 0; i < HDR_WORDS; i++)
        first[i] = w[i];
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (size_t i = 0; i < HDR_WORDS; i++)
        second[i] = w[HDR_WORDS + i];
    if (memcmp(first, second, sizeof first) != 0)
        return false;
    if (first[0] != WALINDEX_VERSION || ((const unsigned char *)first)[WALINDEX_ISINIT_AT] != 1)
        return false;
    memcpy(out->b, first, sizeof out->b);
    return true;
}

bool store_watch_mark(const struct store_watch *w, struct store_watch_mark *out)
{
    return w && store_watch_read_header(w->walindex, out);
}

void store_watch_close(struct store_watch *w)
{
    if (!w)
        return;
    sqlite3_close(w->db);
    free(w);
}

/* Maps region 0 of db's wal-index through its VFS; NULL with why when it cannot. */
static const volatile void *map_walindex(sqlite3 *db, char *why, size_t whysize)
{
    sqlite3_file *f = NULL;
    void volatile *p = NULL;
    /* a read opens the WAL and its shared memory, as any reader's would */
    if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, whysize, "reading the schema: %s", sqlite3_errmsg(db));
        return NULL;
    }
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap) {
        snprintf(why, whysize, "the VFS has no shared-memory wal-index");
        return NULL;
    }
    int rc = f->pMethods->xShmMap(f, 0, WALINDEX_REGION_BYTES, 0, &p);
    if (rc != SQLITE_OK || !p) {
        snprintf(why, whysize, "mapping the wal-index: %s", rc ? sqlite3_errstr(rc) : "none");
        return NULL;
    }
    if (((const volatile uint32_t *)p)[0] != WALINDEX_VERSION) {
        snprintf(why, whysize, "wal-index version %u is not %u",
                 (unsigned)((const volatile uint32_t *)p)[0], WALINDEX_VERSION);
        return NULL;
    }
    return p;
}

enum store_status store_watch_open(const char *db, struct store_watch **out, char *err,
                                   size_t errsize)
{
    char why[256];
    *out = NULL;
    if (store_backend_of(db) != STORE_BACKEND_SQLITE) {
        snprintf(err, errsize, "%s", "not a SQLite database");
        return STORE_OK;
    }
    struct store_watch *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsize, "out of memory");
        return STORE_ERROR;
    }
    enum store_status rc = store_sqlite_connect(db, false, &w->db, err, errsize);
    if (rc) {
        free(w);
        return rc;
    }
    w->walindex = map_walindex(w->db, why, sizeof why);
    if (!w->walindex) {
        snprintf(err, errsize, "%s", why);
        store_watch_close(w);
        return STORE_OK;
    }
    *out = w;
    return STORE_OK;
}
