/* migrations.c — applies, inspects and verifies the SQLite schema migrations recorded in
 * schema_migrations.  See migrations.h for the contract. */
#include "store/migrations.h"

#include "common/clock.h"
#include "common/grow.h"
#include "common/log.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BEGIN_ATTEMPTS 5

static const char table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                " version    INTEGER NOT NULL PRIMARY KEY,"
                                " name       TEXT    NOT NULL,"
                                " checksum   TEXT    NOT NULL,"
                                " applied_at TEXT    NOT NULL)";

void migrations_set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || errsize == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
    /* database messages (libpq's) end with a newline: keep the message on one line */
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

void migrations_checksum(const char *text, char out[MIGRATIONS_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        log_bug("sha256 failed");
        return;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
}

static void copy_str(char *dst, size_t dstsize, const char *src)
{
    snprintf(dst, dstsize, "%s", src ? src : "");
}

enum migrations_result migrations_check_list(const struct schema_migration *list, int n, char *err,
                                             size_t errsize)
{
    if (n < 0 || (n > 0 && !list)) {
        migrations_set_err(err, errsize, "invalid migration list");
        return MIGRATIONS_ERROR;
    }
    for (int i = 0; i < n; i++) {
        if (list[i].version <= 0 || !list[i].name || !list[i].sql ||
            (i > 0 && list[i].version <= list[i - 1].version)) {
            migrations_set_err(err, errsize,
                               "invalid migration list at entry %d (versions must be positive "
                               "and ascending)",
                               i);
            return MIGRATIONS_ERROR;
        }
    }
    return MIGRATIONS_OK;
}

static enum migrations_result table_exists(sqlite3 *db, bool *exists, char *err, size_t errsize)
{
    sqlite3_stmt *st = NULL;
    enum migrations_result rc = MIGRATIONS_ERROR;
    int src = sqlite3_prepare_v2(db,
                                 "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'schema_migrations'",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        goto out;
    src = sqlite3_step(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        goto out;
    *exists = (src == SQLITE_ROW);
    rc = MIGRATIONS_OK;
out:
    if (rc != MIGRATIONS_OK) {
        rc = (src == SQLITE_BUSY || src == SQLITE_LOCKED) ? MIGRATIONS_BUSY : MIGRATIONS_ERROR;
        migrations_set_err(err, errsize, "reading the schema: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc;
}

static int push_row(struct migrations_report *r, size_t *cap, const struct migrations_row *row)
{
    if (grow_array(&r->rows, cap, r->n + 1, sizeof *r->rows, 8, MIGRATIONS_ROWS_MAX) != 0)
        return -1;
    r->rows[r->n++] = *row;
    switch (row->state) {
    case MIGRATIONS_STATE_PENDING:
        r->pending++;
        break;
    case MIGRATIONS_STATE_APPLIED:
        r->applied++;
        break;
    case MIGRATIONS_STATE_MODIFIED:
        r->modified++;
        break;
    case MIGRATIONS_STATE_UNKNOWN:
        r->unknown++;
        break;
    }
    return 0;
}

static void row_from_list(struct migrations_row *row, const struct schema_migration *m)
{
    memset(row, 0, sizeof *row);
    row->version = m->version;
    copy_str(row->name, sizeof row->name, m->name);
    migrations_checksum(m->sql, row->checksum);
    row->state = MIGRATIONS_STATE_PENDING;
}

enum migrations_result migrations_report_merge(const struct schema_migration *list, int n,
                                               const struct migrations_applied *applied,
                                               size_t napplied, struct migrations_report *out,
                                               char *err, size_t errsize)
{
    size_t cap = 0;
    int li = 0;
    struct migrations_row row;
    enum migrations_result rc;

    memset(out, 0, sizeof *out);
    rc = migrations_check_list(list, n, err, errsize);
    if (rc)
        return rc;
    for (size_t ai = 0; ai < napplied; ai++) {
        const struct migrations_applied *a = &applied[ai];
        /* the list's pending versions below this applied one come first */
        while (li < n && list[li].version < a->version) {
            row_from_list(&row, &list[li++]);
            if (push_row(out, &cap, &row))
                goto oom;
        }
        if (li < n && list[li].version == a->version) {
            row_from_list(&row, &list[li++]);
        } else {
            memset(&row, 0, sizeof row);
            row.version = a->version;
            copy_str(row.name, sizeof row.name, a->name);
        }
        copy_str(row.db_checksum, sizeof row.db_checksum, a->checksum);
        copy_str(row.applied_at, sizeof row.applied_at, a->applied_at);
        if (!row.checksum[0])
            row.state = MIGRATIONS_STATE_UNKNOWN;
        else if (strcmp(row.checksum, row.db_checksum) != 0)
            row.state = MIGRATIONS_STATE_MODIFIED;
        else
            row.state = MIGRATIONS_STATE_APPLIED;
        if (push_row(out, &cap, &row))
            goto oom;
    }
    while (li < n) {
        row_from_list(&row, &list[li++]);
        if (push_row(out, &cap, &row))
            goto oom;
    }
    return MIGRATIONS_OK;
oom:
    migrations_set_err(err, errsize, "out of memory");
    migrations_report_clear(out);
    return MIGRATIONS_ERROR;
}

int migrations_applied_push(struct migrations_applied **v, size_t *n, size_t *cap, int version,
                            const char *name, const char *checksum, const char *applied_at)
{
    if (grow_array(v, cap, *n + 1, sizeof **v, 8, MIGRATIONS_ROWS_MAX) != 0)
        return -1;
    struct migrations_applied *a = &(*v)[(*n)++];
    a->version = version;
    copy_str(a->name, sizeof a->name, name);
    copy_str(a->checksum, sizeof a->checksum, checksum);
    copy_str(a->applied_at, sizeof a->applied_at, applied_at);
    return 0;
}

enum migrations_result migrations_inspect_list(sqlite3 *db, const struct schema_migration *list,
                                               int n, struct migrations_report *out, char *err,
                                               size_t errsize)
{
    sqlite3_stmt *st = NULL;
    struct migrations_applied *applied = NULL;
    size_t napplied = 0, cap = 0;
    bool exists = false;
    enum migrations_result rc;

    memset(out, 0, sizeof *out);
    rc = migrations_check_list(list, n, err, errsize);
    if (rc)
        goto out;
    rc = table_exists(db, &exists, err, errsize);
    if (rc)
        goto out;
    if (exists) {
        int src = sqlite3_prepare_v2(db,
                                     "SELECT version, name, checksum, applied_at "
                                     "FROM schema_migrations ORDER BY version",
                                     -1, &st, NULL);
        if (src != SQLITE_OK) {
            rc = MIGRATIONS_ERROR;
            migrations_set_err(err, errsize, "reading schema_migrations: %s", sqlite3_errmsg(db));
            goto out;
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (migrations_applied_push(&applied, &napplied, &cap, sqlite3_column_int(st, 0),
                                        (const char *)sqlite3_column_text(st, 1),
                                        (const char *)sqlite3_column_text(st, 2),
                                        (const char *)sqlite3_column_text(st, 3))) {
                rc = MIGRATIONS_ERROR;
                migrations_set_err(err, errsize, "out of memory");
                goto out;
            }
        }
        if (src != SQLITE_DONE) {
            rc = (src == SQLITE_BUSY) ? MIGRATIONS_BUSY : MIGRATIONS_ERROR;
            migrations_set_err(err, errsize, "reading schema_migrations: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    rc = migrations_report_merge(list, n, applied, napplied, out, err, errsize);
out:
    sqlite3_finalize(st);
    free(applied);
    return rc;
}

enum migrations_result migrations_inspect(sqlite3 *db, struct migrations_report *out, char *err,
                                          size_t errsize)
{
    return migrations_inspect_list(db, schema_migrations_embedded, schema_migrations_embedded_count,
                                   out, err, errsize);
}

void migrations_report_clear(struct migrations_report *r)
{
    free(r->rows);
    memset(r, 0, sizeof *r);
}

/* The first row in a given state, or NULL. */
const struct migrations_row *migrations_report_first(const struct migrations_report *r,
                                                     enum migrations_state s)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->rows[i].state == s)
            return &r->rows[i];
    return NULL;
}

/* MODIFIED / UNKNOWN with a message when the report shows a database this binary must not
 * touch; MIGRATIONS_OK otherwise. */
enum migrations_result migrations_report_verify(const struct migrations_report *r, char *err,
                                                size_t errsize)
{
    const struct migrations_row *row = migrations_report_first(r, MIGRATIONS_STATE_MODIFIED);
    if (row) {
        migrations_set_err(
            err, errsize,
            "migration %04d_%s was changed after it was applied (checksum in the database "
            "%.12s..., in this binary %.12s...)",
            row->version, row->name, row->db_checksum, row->checksum);
        return MIGRATIONS_MODIFIED;
    }
    row = migrations_report_first(r, MIGRATIONS_STATE_UNKNOWN);
    if (row) {
        migrations_set_err(
            err, errsize,
            "the database has migration %04d_%s which this binary does not know (the "
            "database is newer than this binary)",
            row->version, row->name);
        return MIGRATIONS_UNKNOWN;
    }
    return MIGRATIONS_OK;
}

enum migrations_result migrations_report_current(const struct migrations_report *r, char *err,
                                                 size_t errsize)
{
    enum migrations_result rc = migrations_report_verify(r, err, errsize);
    if (rc == MIGRATIONS_OK && r->pending > 0) {
        const struct migrations_row *row = migrations_report_first(r, MIGRATIONS_STATE_PENDING);
        migrations_set_err(err, errsize, "%zu migration(s) pending, the first is %04d_%s",
                           r->pending, row->version, row->name);
        rc = MIGRATIONS_PENDING;
    }
    return rc;
}

enum migrations_result migrations_check_current_list(sqlite3 *db,
                                                     const struct schema_migration *list, int n,
                                                     char *err, size_t errsize)
{
    struct migrations_report r;
    enum migrations_result rc = migrations_inspect_list(db, list, n, &r, err, errsize);
    if (rc)
        return rc;
    rc = migrations_report_current(&r, err, errsize);
    migrations_report_clear(&r);
    return rc;
}

enum migrations_result migrations_check_current(sqlite3 *db, char *err, size_t errsize)
{
    return migrations_check_current_list(db, schema_migrations_embedded,
                                         schema_migrations_embedded_count, err, errsize);
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static enum migrations_result begin_immediate(sqlite3 *db, char *err, size_t errsize)
{
    int src = SQLITE_BUSY;
    for (int attempt = 0; attempt < BEGIN_ATTEMPTS; attempt++) {
        src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (src != SQLITE_BUSY)
            break;
        usleep(50000);
    }
    if (src == SQLITE_OK)
        return MIGRATIONS_OK;
    migrations_set_err(err, errsize, "cannot start a transaction: %s", sqlite3_errmsg(db));
    return src == SQLITE_BUSY ? MIGRATIONS_BUSY : MIGRATIONS_ERROR;
}

static enum migrations_result record(sqlite3 *db, const struct migrations_row *row, char *err,
                                     size_t errsize)
{
    sqlite3_stmt *st = NULL;
    char now[CLOCK_RFC3339_LEN];
    enum migrations_result rc = MIGRATIONS_ERROR;
    clock_rfc3339(clock_wall_ms(), now);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_bind_int(st, 1, row->version) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, row->checksum, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    rc = MIGRATIONS_OK;
out:
    if (rc)
        migrations_set_err(err, errsize, "recording migration %04d_%s: %s", row->version, row->name,
                           sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* One step of `up`: in one transaction, applies the first pending migration.  *done is set
 * when nothing was pending. */
static enum migrations_result apply_one(sqlite3 *db, const struct schema_migration *list, int n,
                                        bool *done, char *err, size_t errsize)
{
    struct migrations_report r = {0};
    char *msg = NULL;
    const struct schema_migration *m = NULL;
    const struct migrations_row *row;
    enum migrations_result rc = begin_immediate(db, err, errsize);
    if (rc)
        return rc;
    if (sqlite3_exec(db, table_sql, NULL, NULL, &msg) != SQLITE_OK) {
        migrations_set_err(err, errsize, "creating schema_migrations: %s",
                           msg ? msg : sqlite3_errmsg(db));
        rc = MIGRATIONS_ERROR;
        goto out;
    }
    rc = migrations_inspect_list(db, list, n, &r, err, errsize);
    if (rc)
        goto out;
    rc = migrations_next_pending(&r, list, n, &m, &row, done, err, errsize);
    if (rc || *done)
        goto out;
    if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
        migrations_set_err(err, errsize, "migration %04d_%s failed (rolled back): %s", m->version,
                           m->name, msg ? msg : sqlite3_errmsg(db));
        rc = MIGRATIONS_FAILED;
        goto out;
    }
    if (sqlite3_get_autocommit(db)) {
        migrations_set_err(err, errsize,
                           "migration %04d_%s ended the runner's transaction (it must not "
                           "contain BEGIN/COMMIT/ROLLBACK)",
                           m->version, m->name);
        rc = MIGRATIONS_FAILED;
        goto out;
    }
    rc = record(db, row, err, errsize);
    if (rc)
        goto out;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        migrations_set_err(err, errsize, "committing migration %04d_%s: %s", m->version, m->name,
                           sqlite3_errmsg(db));
        rc = MIGRATIONS_ERROR;
        goto out;
    }
    log_info("applied migration %04d_%s", m->version, m->name);
out:
    sqlite3_free(msg);
    migrations_report_clear(&r);
    if (rc || *done)
        rollback(db);
    return rc;
}

enum migrations_result migrations_next_pending(const struct migrations_report *r,
                                               const struct schema_migration *list, int n,
                                               const struct schema_migration **m,
                                               const struct migrations_row **row, bool *done,
                                               char *err, size_t errsize)
{
    enum migrations_result rc = migrations_report_verify(r, err, errsize);
    *m = NULL;
    *row = NULL;
    if (rc)
        return rc;
    *row = migrations_report_first(r, MIGRATIONS_STATE_PENDING);
    if (!*row) {
        *done = true;
        return MIGRATIONS_OK;
    }
    for (int i = 0; i < n; i++)
        if (list[i].version == (*row)->version)
            *m = &list[i];
    if (!*m) {
        log_bug("pending migration %d not in the list", (*row)->version);
        migrations_set_err(err, errsize, "pending migration %d not in the list", (*row)->version);
        return MIGRATIONS_ERROR;
    }
    return MIGRATIONS_OK;
}

enum migrations_result migrations_apply_steps(migrations_step_fn step, void *db,
                                              const struct schema_migration *list, int n,
                                              int *napplied, char *err, size_t errsize)
{
    enum migrations_result rc = migrations_check_list(list, n, err, errsize);
    int count = 0;
    bool done = false;
    if (napplied)
        *napplied = 0;
    if (rc)
        return rc;
    /* at most one step per migration plus the final "nothing pending" check */
    for (int i = 0; i <= n && !done; i++) {
        rc = step(db, list, n, &done, err, errsize);
        if (rc)
            break;
        if (!done)
            count++;
    }
    if (rc == MIGRATIONS_OK && !done) {
        migrations_set_err(err, errsize, "migrations still pending after applying %d", count);
        rc = MIGRATIONS_ERROR;
    }
    if (napplied)
        *napplied = count;
    return rc;
}

static enum migrations_result apply_step(void *db, const struct schema_migration *list, int n,
                                         bool *done, char *err, size_t errsize)
{
    return apply_one(db, list, n, done, err, errsize);
}

enum migrations_result migrations_apply_list(sqlite3 *db, const struct schema_migration *list,
                                             int n, int *napplied, char *err, size_t errsize)
{
    return migrations_apply_steps(apply_step, db, list, n, napplied, err, errsize);
}

enum migrations_result migrations_apply(sqlite3 *db, int *napplied, char *err, size_t errsize)
{
    return migrations_apply_list(db, schema_migrations_embedded, schema_migrations_embedded_count,
                                 napplied, err, errsize);
}

const char *migrations_result_name(enum migrations_result r)
{
    switch (r) {
    case MIGRATIONS_OK:
        return "ok";
    case MIGRATIONS_FAILED:
        return "failed";
    case MIGRATIONS_MODIFIED:
        return "modified";
    case MIGRATIONS_UNKNOWN:
        return "unknown";
    case MIGRATIONS_PENDING:
        return "pending";
    case MIGRATIONS_BUSY:
        return "busy";
    case MIGRATIONS_ERROR:
        return "error";
    }
    return "?";
}

const char *migrations_state_name(enum migrations_state s)
{
    switch (s) {
    case MIGRATIONS_STATE_PENDING:
        return "pending";
    case MIGRATIONS_STATE_APPLIED:
        return "applied";
    case MIGRATIONS_STATE_MODIFIED:
        return "MODIFIED";
    case MIGRATIONS_STATE_UNKNOWN:
        return "UNKNOWN";
    }
    return "?";
}
