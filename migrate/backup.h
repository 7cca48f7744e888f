/* backup.h — online backup and verified restore of the SQLite database
 * (`roomstate-migrate backup FILE`, `roomstate-migrate restore FILE`).
 *
 * backup: SQLite's online backup API copies the database in one read transaction, so the
 * copy is one consistent snapshot (every commit before it began, none after) while a server
 * keeps saving (WAL: readers and the writer do not block each other).  The copy is written
 * to FILE.tmp-XXXXXX next to FILE, switched to journal_mode=DELETE (a single self-contained
 * file), checked with PRAGMA integrity_check, fsync'd and then renamed to FILE (the directory
 * fsync'd).  An existing FILE is refused unless force.
 *
 * restore: refuses FILE when it is the database itself or has a FILE-wal beside it (a live
 * database, not a backup), and while a roomstate-server holds the database
 * (common/dbfile.h); copies
 * FILE next to the database, verifies the copy (PRAGMA integrity_check, and the
 * schema_migrations checksums against this binary's: no modified or unknown migration,
 * at least one applied), removes the database's stale -wal, -shm and -journal files (a
 * stale WAL would otherwise be replayed onto the restored file) and renames the copy over
 * the database. */
#ifndef ROOMSTATE_MIGRATE_BACKUP_H
#define ROOMSTATE_MIGRATE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>

enum backup_result {
    BACKUP_OK = 0,
    BACKUP_FAILED,  /* I/O, SQLite, or the target exists (without force) */
    BACKUP_REFUSED, /* restore: a server holds the database */
    BACKUP_INVALID, /* restore: FILE fails integrity_check or its schema checksums */
};

/* What a backup or restore holds (printed by roomstate-migrate). */
struct backup_summary {
    long long rooms, versions, pending_migrations;
};

enum backup_result backup_db(const char *db_path, const char *file, bool force,
                             struct backup_summary *sum, char *err, size_t errsize);
enum backup_result restore_db(const char *db_path, const char *file, struct backup_summary *sum,
                              char *err, size_t errsize);

#endif
