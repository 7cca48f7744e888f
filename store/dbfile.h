/* dbfile.h — the SQLite database as a file: its directory, whether this process may write
 * it, and the lock that tells a running server from a restore.
 *
 * The lock: every roomstate-server holds a shared flock(2) on its database file for its whole
 * life; `roomstate-migrate restore` takes an exclusive one without waiting and refuses to
 * replace the file when it cannot, and a server refuses to start while a restore holds it.
 * flock locks belong to their own open file description and are independent of SQLite's
 * fcntl byte-range locks on Linux, so neither disturbs SQLite.  The fd must stay open as
 * long as the lock is wanted (closing another fd of the same file would drop SQLite's fcntl
 * locks, never this one). */
#ifndef ROOMSTATE_DBFILE_H
#define ROOMSTATE_DBFILE_H

#include <stddef.h>

/* The directory part of path ("." when it has none) into dir; -1 when it does not fit. */
int dbfile_dir(const char *path, char *dir, size_t size);

/* 0 when this process may write the database file and its directory (where SQLite creates
 * PATH-wal and PATH-shm); else -1 and err names the path and errno (read-only file system,
 * permission denied). */
int dbfile_check_writable(const char *path, char *err, size_t errsize);

enum dblock_result {
    DBLOCK_OK = 0,
    DBLOCK_HELD,    /* another process holds a conflicting lock */
    DBLOCK_MISSING, /* the file does not exist */
    DBLOCK_ERROR,   /* anything else (err says what) */
};

/* Takes the lock on path: shared (a server) or exclusive (a restore), never waiting.  On
 * DBLOCK_OK *fd is the open descriptor holding it (dblock_release closes it); otherwise
 * *fd is -1 and err (errsize bytes) says why. */
enum dblock_result dblock_take(const char *path, int exclusive, int *fd, char *err, size_t errsize);
void dblock_release(int fd);

#endif
