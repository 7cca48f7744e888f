/* dbfile.c — the database file: directory, writability, server/restore lock (dbfile.h). */
#include "store/dbfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int dbfile_dir(const char *path, char *dir, size_t size)
{
    int n = snprintf(dir, size, "%s", path);
    if (n < 0 || (size_t)n >= size)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

int dbfile_check_writable(const char *path, char *err, size_t errsize)
{
    char dir[PATH_MAX];
    if (dbfile_dir(path, dir, sizeof dir) != 0) {
        snprintf(err, errsize, "database %s: path too long", path);
        return -1;
    }
    if (access(path, W_OK) != 0) {
        int e = errno;
        snprintf(err, errsize, "database %s is not writable by this process (uid %ld): %s%s", path,
                 (long)geteuid(), strerror(e),
                 e == EROFS ? " (it is on a read-only file system)" : "");
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        snprintf(err, errsize,
                 "directory %s of database %s is not writable by this process (uid %ld): %s%s "
                 "(SQLite creates %s-wal and %s-shm there)",
                 dir, path, (long)geteuid(), strerror(e),
                 e == EROFS ? " (it is on a read-only file system)" : "", path, path);
        return -1;
    }
    return 0;
}

enum dblock_result dblock_take(const char *path, int exclusive, int *fd, char *err, size_t errsize)
{
    *fd = -1;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
        snprintf(err, errsize, "database %s: %s", path, strerror(errno));
        return errno == ENOENT ? DBLOCK_MISSING : DBLOCK_ERROR;
    }
    int rc;
    do
        rc = flock(f, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK) {
            snprintf(err, errsize, "database %s is held by another process (%s)", path,
                     exclusive ? "a running roomstate-server" : "a restore in progress");
            return DBLOCK_HELD;
        }
        snprintf(err, errsize, "database %s: flock: %s", path, strerror(e));
        return DBLOCK_ERROR;
    }
    *fd = f;
    return DBLOCK_OK;
}

void dblock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the flock */
}
