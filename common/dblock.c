/* dblock.c — the server/restore lock on the database file (see dblock.h). */
#include "common/dblock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

enum dblock_result dblock_take(const char *path, int exclusive, int *fd, char *err,
                               size_t errsize)
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
