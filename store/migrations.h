/* migrations.h — the SQLite schema migration runner: applies the embedded migrations
 * (common/schema.h) in order, each in its own transaction, and records each in
 *   schema_migrations(version, name, checksum, applied_at)
 * where checksum is the lower-case sha256 hex of the migration's SQL text as embedded (the
 * file's bytes; tools/embed-schema.sh ends every line with "\n", so a file should end with
 * a newline for the two to be equal) and applied_at an RFC 3339 UTC time stamp.  Shipped
 * migrations are append-only: editing one makes `verify` fail on every database that has it.
 * Used by roomstate-migrate (up, status, verify) and by the store (store_open refuses a
 * database whose schema is not current).
 *
 * Every function takes the migration list explicitly (the *_list variants) so that tests
 * can inject a failing migration or a different text; the short forms use
 * schema_migrations_embedded[].  A migration's SQL must not contain BEGIN/COMMIT: the runner
 * wraps it in BEGIN IMMEDIATE ... COMMIT, and rolls back on any error, leaving the database
 * as it was before that migration. */
#ifndef ROOMSTATE_MIGRATIONS_H
#define ROOMSTATE_MIGRATIONS_H

#include "store/schema.h"

/* The most migrations a database or a binary may list (a bound for the arrays). */
#define MIGRATIONS_ROWS_MAX 10000

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define MIGRATIONS_SHA256_HEX 65 /* 64 hex digits + NUL */

enum migrations_result {
    MIGRATIONS_OK = 0,
    MIGRATIONS_FAILED,   /* a migration failed and was rolled back (err says which) */
    MIGRATIONS_MODIFIED, /* an applied migration's checksum differs from this binary's */
    MIGRATIONS_UNKNOWN,  /* the database has versions this binary does not know (newer) */
    MIGRATIONS_PENDING,  /* (migrations_check_current only) migrations are not applied */
    MIGRATIONS_BUSY,     /* the database stayed locked */
    MIGRATIONS_ERROR,    /* anything else (I/O, out of memory, bad list) */
};

enum migrations_state {
    MIGRATIONS_STATE_PENDING,  /* in this binary, not applied */
    MIGRATIONS_STATE_APPLIED,  /* applied, checksum matches */
    MIGRATIONS_STATE_MODIFIED, /* applied, checksum differs from this binary's text */
    MIGRATIONS_STATE_UNKNOWN,  /* applied, not in this binary */
};

struct migrations_row {
    int version;
    char name[128];
    enum migrations_state state;
    char checksum[MIGRATIONS_SHA256_HEX];    /* this binary's ("" when UNKNOWN) */
    char db_checksum[MIGRATIONS_SHA256_HEX]; /* recorded in the database ("" when PENDING) */
    char applied_at[40];                     /* "" when PENDING */
};

/* The database's migration state compared with a list: one row per version (the list's
 * and the database's, merged), ascending. */
struct migrations_report {
    struct migrations_row *rows; /* malloc'd; migrations_report_clear frees */
    size_t n;
    size_t pending, applied, modified, unknown;
};

/* The lower-case sha256 hex of text (OpenSSL). */
void migrations_checksum(const char *text, char out[MIGRATIONS_SHA256_HEX]);

/* Applies every pending migration of list (n entries, ascending versions) in order, each in
 * its own BEGIN IMMEDIATE transaction (re-checked inside it, so two runners at once are
 * safe).  Refuses to apply anything (MIGRATIONS_MODIFIED / MIGRATIONS_UNKNOWN) when the
 * database fails verification.  *napplied (may be NULL) counts what was applied; err
 * (errsize bytes) describes a failure. */
enum migrations_result migrations_apply_list(sqlite3 *db, const struct schema_migration *list,
                                             int n, int *napplied, char *err, size_t errsize)
    __attribute__((warn_unused_result));
enum migrations_result migrations_apply(sqlite3 *db, int *napplied, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* Reads schema_migrations (absent table: nothing applied) into a report. */
enum migrations_result migrations_inspect_list(sqlite3 *db, const struct schema_migration *list,
                                               int n, struct migrations_report *out, char *err,
                                               size_t errsize) __attribute__((warn_unused_result));
enum migrations_result migrations_inspect(sqlite3 *db, struct migrations_report *out, char *err,
                                          size_t errsize) __attribute__((warn_unused_result));
void migrations_report_clear(struct migrations_report *r);

/* MIGRATIONS_OK when every migration of the list is applied with a matching checksum and
 * nothing else is; otherwise MIGRATIONS_PENDING / _MODIFIED / _UNKNOWN (or _ERROR) with a
 * one-line reason in err.  Used by store_open and store_ready. */
enum migrations_result migrations_check_current_list(sqlite3 *db,
                                                     const struct schema_migration *list, int n,
                                                     char *err, size_t errsize)
    __attribute__((warn_unused_result));
enum migrations_result migrations_check_current(sqlite3 *db, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* ---- backend-neutral pieces (shared with the PostgreSQL runner, migrations_pg.c) ---- */

/* One migration as recorded in a database's schema_migrations. */
struct migrations_applied {
    int version;
    char name[128];
    char checksum[MIGRATIONS_SHA256_HEX];
    char applied_at[40];
};
/* Appends to a growing array (*v, *n used, *cap allocated); -1 when out of memory. */
int migrations_applied_push(struct migrations_applied **v, size_t *n, size_t *cap, int version,
                            const char *name, const char *checksum, const char *applied_at);
/* The report of a database whose applied migrations (ascending versions) are given. */
enum migrations_result migrations_report_merge(const struct schema_migration *list, int n,
                                               const struct migrations_applied *applied,
                                               size_t napplied, struct migrations_report *out,
                                               char *err, size_t errsize)
    __attribute__((warn_unused_result));
/* MODIFIED / UNKNOWN (err says which migration) or OK. */
enum migrations_result migrations_report_verify(const struct migrations_report *r, char *err,
                                                size_t errsize);
/* As verify, and PENDING when something is not applied. */
enum migrations_result migrations_report_current(const struct migrations_report *r, char *err,
                                                 size_t errsize);
const struct migrations_row *migrations_report_first(const struct migrations_report *r,
                                                     enum migrations_state s);
/* MIGRATIONS_ERROR (err says why) unless versions are positive and ascending. */
enum migrations_result migrations_check_list(const struct schema_migration *list, int n, char *err,
                                             size_t errsize);

/* Inside an `up` step: MODIFIED / UNKNOWN when r fails verification; else the first
 * pending migration (*m, its report row *row), or *done when nothing is pending. */
enum migrations_result
migrations_next_pending(const struct migrations_report *r, const struct schema_migration *list,
                        int n, const struct schema_migration **m, const struct migrations_row **row,
                        bool *done, char *err, size_t errsize) __attribute__((warn_unused_result));

/* One step of `up` on a backend's connection db: applies the first pending migration of
 * list in its own transaction, or sets *done when none is pending. */
typedef enum migrations_result (*migrations_step_fn)(void *db, const struct schema_migration *list,
                                                     int n, bool *done, char *err, size_t errsize);
/* Runs step until nothing is pending (at most n + 1 times); *napplied counts. */
enum migrations_result migrations_apply_steps(migrations_step_fn step, void *db,
                                              const struct schema_migration *list, int n,
                                              int *napplied, char *err, size_t errsize)
    __attribute__((warn_unused_result));

/* Formats a message into err (errsize bytes; nothing when err is NULL), on one line. */
void migrations_set_err(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *migrations_result_name(enum migrations_result r);
const char *migrations_state_name(enum migrations_state s);

#endif
