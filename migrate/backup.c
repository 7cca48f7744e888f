/* backup.c — online backup and verified restore of the SQLite database (see backup.h). */
#include "migrate/backup.h"

#include "store/dbfile.h"
#include "store/migrations.h"
#include "store/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_BUSY_TRIES 200 /* backup steps refused by a lock, 25 ms apart (5 s) */

static int fsync_path(const char *path, bool directory)
{
    int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* A new empty file next to target: target.<tag>-XXXXXX (its name into tmp). */
static int make_temp(const char *target, const char *tag, char *tmp, size_t size, char *err,
                     size_t errsize)
{
    int n = snprintf(tmp, size, "%s.%s-XXXXXX", target, tag);
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, errsize, "%s: path too long", target);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errsize, "cannot create a temporary file next to %s: %s", target,
                 strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* One integer of a query (the first column of its first row); -1 on error. */
static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* PRAGMA integrity_check answers one row "ok", or the problems found. */
static bool integrity_ok(sqlite3 *db, char *err, size_t errsize)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;
    int src = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        ok = v && !strcmp((const char *)v, "ok");
        if (!ok)
            snprintf(err, errsize, "PRAGMA integrity_check: %s", v ? (const char *)v : "?");
    } else {
        snprintf(err, errsize, "PRAGMA integrity_check: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return ok;
}

static bool exec_expect(sqlite3 *db, const char *sql, const char *expect, char *err, size_t errsize)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int src = sqlite3_step(st);
        const unsigned char *v = src == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        ok = src == SQLITE_DONE ||
             (src == SQLITE_ROW && (!expect || (v && !strcmp((const char *)v, expect))));
    }
    if (!ok)
        snprintf(err, errsize, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok;
}

static void summarize(sqlite3 *db, struct backup_summary *sum)
{
    sum->rooms = query_int(db, "SELECT count(*) FROM rooms WHERE current_version IS NOT NULL");
    sum->versions = query_int(db, "SELECT count(*) FROM room_versions");
}

/* Copies src's main database into the (empty) file at dst_path in one step, so in one read
 * transaction of src, then makes it a self-contained rollback-journal file and checks it. */
static enum backup_result copy_online(sqlite3 *src, const char *dst_path,
                                      struct backup_summary *sum, char *err, size_t errsize)
{
    sqlite3 *dst = NULL;
    enum backup_result rc = BACKUP_FAILED;
    if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "opening %s: %s", dst_path, dst ? sqlite3_errmsg(dst) : "no memory");
        goto out;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errsize, "backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    int src_rc = SQLITE_OK;
    for (int i = 0; i < BACKUP_BUSY_TRIES; i++) {
        src_rc = sqlite3_backup_step(b, -1); /* every page at once: one snapshot */
        if (src_rc != SQLITE_BUSY && src_rc != SQLITE_LOCKED)
            break;
        usleep(25000);
    }
    sqlite3_backup_finish(b);
    if (src_rc != SQLITE_DONE) {
        snprintf(err, errsize, "backup: %s (%d)", sqlite3_errstr(src_rc), src_rc);
        goto out;
    }
    if (!exec_expect(dst, "PRAGMA journal_mode = DELETE", "delete", err, errsize) ||
        !exec_expect(dst, "PRAGMA synchronous = FULL", NULL, err, errsize))
        goto out;
    if (!integrity_ok(dst, err, errsize))
        goto out;
    summarize(dst, sum);
    rc = BACKUP_OK;
out:
    if (sqlite3_close(dst) != SQLITE_OK && rc == BACKUP_OK) {
        snprintf(err, errsize, "closing %s: %s", dst_path, sqlite3_errmsg(dst));
        rc = BACKUP_FAILED;
    }
    return rc;
}

/* Moves tmp to file: rename (force) or link + unlink (never replacing an existing file). */
static enum backup_result install(const char *tmp, const char *file, bool force, char *err,
                                  size_t errsize)
{
    char dir[PATH_MAX];
    if (fsync_path(tmp, false) != 0) {
        snprintf(err, errsize, "fsync %s: %s", tmp, strerror(errno));
        return BACKUP_FAILED;
    }
    if (force ? rename(tmp, file) != 0 : link(tmp, file) != 0) {
        snprintf(err, errsize, "%s: %s%s", file, strerror(errno),
                 errno == EEXIST ? " (use --force to replace it)" : "");
        return BACKUP_FAILED;
    }
    if (!force)
        unlink(tmp);
    if (dbfile_dir(file, dir, sizeof dir) == 0 && fsync_path(dir, true) != 0) {
        snprintf(err, errsize, "fsync %s: %s", dir, strerror(errno));
        return BACKUP_FAILED;
    }
    return BACKUP_OK;
}

enum backup_result backup_db(const char *db_path, const char *file, bool force,
                             struct backup_summary *sum, char *err, size_t errsize)
{
    char tmp[PATH_MAX];
    struct stat sb;
    sqlite3 *src = NULL;
    enum backup_result rc = BACKUP_FAILED;
    memset(sum, 0, sizeof *sum);
    if (!force && lstat(file, &sb) == 0) {
        snprintf(err, errsize, "%s exists: use --force to replace it", file);
        return BACKUP_FAILED;
    }
    if (store_sqlite_connect(db_path, false, &src, err, errsize) != STORE_OK)
        return BACKUP_FAILED;
    if (make_temp(file, "tmp", tmp, sizeof tmp, err, errsize) != 0)
        goto out;
    rc = copy_online(src, tmp, sum, err, errsize);
    if (rc == BACKUP_OK)
        rc = install(tmp, file, force, err, errsize);
    if (rc != BACKUP_OK)
        unlink(tmp);
out:
    sqlite3_close(src);
    return rc;
}

/* Copies the bytes of from into the existing file to, and fsyncs it. */
static int copy_file(const char *from, const char *to, char *err, size_t errsize)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0) {
        snprintf(err, errsize, "%s: %s", from, strerror(errno));
        return -1;
    }
    out = open(to, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (out < 0) {
        snprintf(err, errsize, "%s: %s", to, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errsize, "reading %s: %s", from, strerror(errno));
            goto done;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(err, errsize, "writing %s: %s", to, strerror(errno));
                goto done;
            }
            off += w;
        }
    }
    if (fsync(out) != 0) {
        snprintf(err, errsize, "fsync %s: %s", to, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* The checks of a copy before it replaces the database. */
static enum backup_result verify_copy(const char *path, const char *file,
                                      struct backup_summary *sum, char *err, size_t errsize)
{
    sqlite3 *db = NULL;
    struct migrations_report r = {0};
    char why[512] = "";
    enum backup_result rc = BACKUP_INVALID;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "%s: %s", file, db ? sqlite3_errmsg(db) : "no memory");
        goto out;
    }
    if (!integrity_ok(db, why, sizeof why)) {
        snprintf(err, errsize, "%s is not a sound database: %s", file, why);
        goto out;
    }
    enum migrations_result mr = migrations_inspect(db, &r, why, sizeof why);
    if (mr != MIGRATIONS_OK) {
        snprintf(err, errsize, "%s: reading its schema_migrations: %s", file, why);
        goto out;
    }
    if (r.modified || r.unknown) {
        snprintf(err, errsize,
                 "%s does not match this binary's migrations (%zu modified checksum(s), %zu "
                 "unknown): see `roomstate-migrate --db %s verify`",
                 file, r.modified, r.unknown, file);
        goto out;
    }
    if (r.applied == 0) {
        snprintf(err, errsize, "%s is not a roomstate database (no migration applied)", file);
        goto out;
    }
    if (!exec_expect(db, "PRAGMA journal_mode = DELETE", "delete", why, sizeof why)) {
        snprintf(err, errsize, "%s: %s", file, why);
        rc = BACKUP_FAILED;
        goto out;
    }
    summarize(db, sum);
    sum->pending_migrations = (long long)r.pending;
    rc = BACKUP_OK;
out:
    migrations_report_clear(&r);
    sqlite3_close(db);
    return rc;
}

/* The restored file gets the replaced database's mode and owner (a server running as
 * another user than the restore must still open it); a new database: 0644 minus umask. */
static int keep_owner(const char *db_path, const char *tmp, char *err, size_t errsize)
{
    struct stat sb;
    if (stat(db_path, &sb) != 0) {
        mode_t mask = umask(0);
        umask(mask);
        sb.st_mode = 0644 & ~mask;
        sb.st_uid = (uid_t)-1;
        sb.st_gid = (gid_t)-1;
    }
    if (chmod(tmp, sb.st_mode & 07777) != 0) {
        snprintf(err, errsize, "chmod %s: %s", tmp, strerror(errno));
        return -1;
    }
    if ((sb.st_uid != (uid_t)-1 && (sb.st_uid != geteuid() || sb.st_gid != getegid())) &&
        chown(tmp, sb.st_uid, sb.st_gid) != 0) {
        snprintf(err, errsize, "chown %s to the database's owner %ld:%ld: %s", tmp, (long)sb.st_uid,
                 (long)sb.st_gid, strerror(errno));
        return -1;
    }
    return 0;
}

/* Removes path (absent is fine). */
static int remove_stale(const char *db_path, const char *suffix, char *err, size_t errsize)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s%s", db_path, suffix);
    if (n < 0 || (size_t)n >= sizeof p || (unlink(p) != 0 && errno != ENOENT)) {
        snprintf(err, errsize, "removing %s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

/* FILE must be a file of its own: not the database itself, and not a live database with a
 * -wal beside it (a copy of the main file alone would miss what the WAL holds). */
static enum backup_result restore_source_ok(const char *db_path, const char *file, char *err,
                                            size_t errsize)
{
    struct stat a, b;
    char wal[PATH_MAX];
    if (stat(file, &a) != 0) {
        snprintf(err, errsize, "%s: %s", file, strerror(errno));
        return BACKUP_FAILED;
    }
    if (stat(db_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        snprintf(err, errsize, "%s is the database itself", file);
        return BACKUP_INVALID;
    }
    int n = snprintf(wal, sizeof wal, "%s-wal", file);
    if (n > 0 && (size_t)n < sizeof wal && access(wal, F_OK) == 0) {
        snprintf(err, errsize,
                 "%s has a %s beside it: it is a live database, not a backup (make one with "
                 "`roomstate-migrate --db %s backup FILE`)",
                 file, wal, file);
        return BACKUP_INVALID;
    }
    return BACKUP_OK;
}

enum backup_result restore_db(const char *db_path, const char *file, struct backup_summary *sum,
                              char *err, size_t errsize)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    int lock = -1;
    enum backup_result rc = BACKUP_FAILED;
    memset(sum, 0, sizeof *sum);
    rc = restore_source_ok(db_path, file, err, errsize);
    if (rc != BACKUP_OK)
        return rc;
    rc = BACKUP_FAILED;
    enum dblock_result lr = dblock_take(db_path, 1, &lock, err, errsize);
    if (lr == DBLOCK_HELD) {
        snprintf(err, errsize,
                 "database %s is held by a running roomstate-server: stop it before restoring",
                 db_path);
        return BACKUP_REFUSED;
    }
    if (lr == DBLOCK_ERROR)
        return BACKUP_FAILED;
    /* DBLOCK_MISSING: nothing to replace, nothing a server could hold */
    if (make_temp(db_path, "restore", tmp, sizeof tmp, err, errsize) != 0)
        goto out;
    if (copy_file(file, tmp, err, errsize) != 0 || keep_owner(db_path, tmp, err, errsize) != 0)
        goto fail;
    rc = verify_copy(tmp, file, sum, err, errsize);
    if (rc != BACKUP_OK)
        goto fail;
    rc = BACKUP_FAILED;
    if (remove_stale(db_path, "-wal", err, errsize) ||
        remove_stale(db_path, "-shm", err, errsize) ||
        remove_stale(db_path, "-journal", err, errsize))
        goto fail;
    if (fsync_path(tmp, false) != 0 || rename(tmp, db_path) != 0) {
        snprintf(err, errsize, "replacing %s: %s", db_path, strerror(errno));
        goto fail;
    }
    if (dbfile_dir(db_path, dir, sizeof dir) == 0 && fsync_path(dir, true) != 0) {
        snprintf(err, errsize, "fsync %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = BACKUP_OK;
    goto out;
fail:
    unlink(tmp);
out:
    dblock_release(lock);
    return rc;
}
