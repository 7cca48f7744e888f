/* main.c — roomstate-migrate: applies the embedded schema migrations at deploy (`up`), shows
 * them (`status`) and checks that the database matches this binary (`verify`), on SQLite
 * (a file path) or PostgreSQL (a libpq connection string: store_backend_of). */
#include "common/config.h"
#include "common/log.h"
#include "migrate/backup.h"
#include "store/migrations.h"
#include "store/migrations_pg.h"
#include "store/store_copy.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum exit_code {
    EXIT_OK = 0,
    EXIT_FAILED = 1,   /* the database could not be opened, or a migration failed */
    EXIT_USAGE = 2,    /* bad command line or configuration */
    EXIT_MISMATCH = 3, /* checksum differs, or the database is newer than this binary */
};

struct migrate_config {
    const char *db;
    const char *log_level;
    const char *from;
    const char *to;
    bool force;
};

static const struct config_opt opts[] = {
    {"--db", "ROOMSTATE_DB", CONFIG_STRING, "./data/roomstate.db", 0, 0,
     offsetof(struct migrate_config, db),
     "SQLite database file (`up` creates it and its parent directory), or a PostgreSQL "
     "connection string: postgresql://USER@HOST:PORT/DB or key=value pairs (password from "
     "the file in env ROOMSTATE_DB_PASSWORD_FILE, or libpq's PGPASSFILE)"},
    {"--log-level", "ROOMSTATE_LOG_LEVEL", CONFIG_STRING, "warn", 0, 0,
     offsetof(struct migrate_config, log_level), "debug, info, warn or error (stderr)"},
    {"--from", NULL, CONFIG_STRING, NULL, 0, 0, offsetof(struct migrate_config, from),
     "copy: the source database (path or connection string; must be current)"},
    {"--to", NULL, CONFIG_STRING, NULL, 0, 0, offsetof(struct migrate_config, to),
     "copy: the destination database (migrated with `up`, holding no room)"},
    {"--force", NULL, CONFIG_BOOL, "0", 0, 0, offsetof(struct migrate_config, force),
     "backup: replace an existing FILE"},
};

static const char usage[] =
    "usage: roomstate-migrate [--db PATH|URI] up|status|verify\n"
    "       roomstate-migrate copy --from PATH|URI --to PATH|URI\n"
    "       roomstate-migrate [--db PATH] [--force] backup FILE\n"
    "       roomstate-migrate [--db PATH] restore FILE\n"
    "\n"
    "Commands:\n"
    "  up      apply every pending migration in order, each in its own transaction (a\n"
    "          failing one is rolled back); creates the database file and its parent\n"
    "          directory; doing it again is a no-op\n"
    "  status  list the migrations of this binary and of the database: applied, pending,\n"
    "          MODIFIED (checksum differs) or UNKNOWN (newer than this binary)\n"
    "  verify  check that every applied migration matches this binary (sha256) and that the\n"
    "          database has no migration this binary does not know\n"
    "  copy    copy every room (version counter, current state, retained history) from\n"
    "          --from to --to, e.g. SQLite to PostgreSQL; stop the servers first; the\n"
    "          destination must be migrated (`up`) and hold no room\n"
    "  backup FILE   an online, consistent copy of the database into FILE while the server\n"
    "          keeps running (SQLite's backup API: one snapshot; written to a temporary file,\n"
    "          checked with integrity_check, fsync'd, then renamed); refuses an existing FILE\n"
    "          unless --force\n"
    "  restore FILE  replace the database with the backup FILE; refuses while a\n"
    "          roomstate-server runs on the database; checks FILE first (integrity_check and\n"
    "          its migration checksums); removes the old -wal/-shm files; atomic rename\n"
    "\n"
    "Exit codes:\n"
    "  0  success (verify: everything applied matches; pending migrations are reported)\n"
    "  1  the database could not be opened or read, or a migration failed (rolled back)\n"
    "     (PostgreSQL: the server named in the message could not be reached or refused),\n"
    "     or a backup/restore failed (nothing replaced), or restore: a server holds the\n"
    "     database\n"
    "  2  usage error (unknown command or option, bad value)\n"
    "  3  verify failed: an applied migration's checksum differs, or the database has\n"
    "     migrations this binary does not know (up refuses to touch such a database);\n"
    "     restore: FILE fails integrity_check or its migration checksums (nothing replaced)";

/* Creates the parent directories of path (like mkdir -p of its dirname); says why not on
 * stderr. */
static int make_parents(const char *path)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n < 0 || (size_t)n >= sizeof buf) {
        fprintf(stderr, "roomstate-migrate: %s: path too long\n", path);
        return -1;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "roomstate-migrate: cannot create directory %s: %s\n", buf,
                    strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "roomstate-migrate: cannot create directory %s: %s\n", buf,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int exit_for(enum migrations_result r)
{
    switch (r) {
    case MIGRATIONS_OK:
        return EXIT_OK;
    case MIGRATIONS_MODIFIED:
    case MIGRATIONS_UNKNOWN:
        return EXIT_MISMATCH;
    default:
        return EXIT_FAILED;
    }
}

/* The database named for messages: a PostgreSQL connection string never (password). */
static const char *display_name(const char *db, char *buf, size_t size)
{
    if (store_backend_of(db) != STORE_BACKEND_POSTGRES)
        return db;
    store_pg_describe(db, buf, size);
    return buf;
}

static int cmd_copy(const char *from_db, const char *to_db)
{
    struct store_options o;
    struct store *from = NULL, *to = NULL;
    struct store_copy_stats stats;
    char err[1024] = "", fname[512], tname[512];
    int rc = EXIT_FAILED;
    const char *fn = display_name(from_db, fname, sizeof fname);
    const char *tn = display_name(to_db, tname, sizeof tname);
    store_options_default(&o);
    o.group_commit = false;
    if (store_open_opts(from_db, &o, &from, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "roomstate-migrate: copy: source %s: %s\n", fn, err);
        goto out;
    }
    if (store_open_opts(to_db, &o, &to, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "roomstate-migrate: copy: destination %s: %s\n", tn, err);
        goto out;
    }
    if (store_copy(from, to, &stats, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "roomstate-migrate: copy from %s to %s: %s\n", fn, tn, err);
        goto out;
    }
    printf("copied %zu room(s), %zu version(s) from %s to %s\n", stats.rooms, stats.versions, fn,
           tn);
    rc = EXIT_OK;
out:
    store_close(from);
    store_close(to);
    return rc;
}

static int highest_applied(const struct migrations_report *r)
{
    int v = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->rows[i].state != MIGRATIONS_STATE_PENDING && r->rows[i].version > v)
            v = r->rows[i].version;
    return v;
}

/* The open database of either backend. */
struct mdb {
    sqlite3 *sq;
    PGconn *pg;
};

static enum migrations_result mdb_apply(struct mdb *db, int *napplied, char *err, size_t errsize)
{
    return db->pg ? migrations_pg_apply(db->pg, napplied, err, errsize)
                  : migrations_apply(db->sq, napplied, err, errsize);
}

static enum migrations_result mdb_inspect(struct mdb *db, struct migrations_report *r, char *err,
                                          size_t errsize)
{
    return db->pg ? migrations_pg_inspect(db->pg, r, err, errsize)
                  : migrations_inspect(db->sq, r, err, errsize);
}

static int cmd_up(struct mdb *db, const char *path)
{
    char err[1024] = "";
    struct migrations_report r;
    int napplied = 0;
    enum migrations_result mr = mdb_apply(db, &napplied, err, sizeof err);
    if (mr) {
        fprintf(stderr, "roomstate-migrate: %s: %s\n", path, err);
        if (napplied)
            fprintf(stderr, "roomstate-migrate: %d migration(s) before it were applied\n",
                    napplied);
        return exit_for(mr);
    }
    mr = mdb_inspect(db, &r, err, sizeof err);
    if (mr) {
        fprintf(stderr, "roomstate-migrate: %s: %s\n", path, err);
        return exit_for(mr);
    }
    if (napplied == 0)
        printf("%s: schema is current (version %d), nothing to apply\n", path, highest_applied(&r));
    else
        printf("%s: applied %d migration(s), schema now at version %d\n", path, napplied,
               highest_applied(&r));
    migrations_report_clear(&r);
    return EXIT_OK;
}

static int cmd_status(struct mdb *db, const char *path, bool verify)
{
    char err[1024] = "";
    struct migrations_report r;
    enum migrations_result mr = mdb_inspect(db, &r, err, sizeof err);
    if (mr) {
        fprintf(stderr, "roomstate-migrate: %s: %s\n", path, err);
        return exit_for(mr);
    }
    if (!verify) {
        printf("%-8s %-32s %-9s %-24s %s\n", "VERSION", "NAME", "STATE", "APPLIED_AT", "CHECKSUM");
        for (size_t i = 0; i < r.n; i++) {
            const struct migrations_row *row = &r.rows[i];
            printf("%04d     %-32s %-9s %-24s %.12s\n", row->version, row->name,
                   migrations_state_name(row->state), row->applied_at[0] ? row->applied_at : "-",
                   row->checksum[0] ? row->checksum : row->db_checksum);
        }
    }
    printf("%s: %zu applied, %zu pending, %zu modified, %zu unknown\n", path, r.applied, r.pending,
           r.modified, r.unknown);
    int rc = EXIT_OK;
    for (size_t i = 0; i < r.n; i++) {
        const struct migrations_row *row = &r.rows[i];
        if (row->state == MIGRATIONS_STATE_MODIFIED) {
            fprintf(stderr,
                    "roomstate-migrate: migration %04d_%s was changed after it was applied "
                    "(database %s, binary %s)\n",
                    row->version, row->name, row->db_checksum, row->checksum);
            rc = EXIT_MISMATCH;
        } else if (row->state == MIGRATIONS_STATE_UNKNOWN) {
            fprintf(stderr,
                    "roomstate-migrate: the database has migration %04d_%s which this binary "
                    "does not know (the database is newer than this tool)\n",
                    row->version, row->name);
            rc = EXIT_MISMATCH;
        }
    }
    if (verify) {
        if (rc == EXIT_OK && r.pending)
            printf("verify: ok; %zu migration(s) pending: run `roomstate-migrate --db %s up`\n",
                   r.pending, path);
        else if (rc == EXIT_OK)
            printf("verify: ok\n");
        else
            printf("verify: FAILED\n");
    } else {
        rc = EXIT_OK; /* status informs; verify decides */
    }
    migrations_report_clear(&r);
    return rc;
}

/* backup FILE / restore FILE. */
static int cmd_backup(const struct migrate_config *cfg, bool restore, const char *file)
{
    char err[1024] = "";
    struct backup_summary sum;
    enum backup_result r = restore ? restore_db(cfg->db, file, &sum, err, sizeof err)
                                   : backup_db(cfg->db, file, cfg->force, &sum, err, sizeof err);
    if (r != BACKUP_OK) {
        fprintf(stderr, "roomstate-migrate: %s %s: %s\n", restore ? "restore" : "backup", file,
                err);
        return r == BACKUP_INVALID ? EXIT_MISMATCH : EXIT_FAILED;
    }
    if (restore) {
        printf("%s: restored from %s (%lld rooms, %lld versions)\n", cfg->db, file, sum.rooms,
               sum.versions);
        if (sum.pending_migrations)
            printf("%lld migration(s) pending: run `roomstate-migrate --db %s up` before "
                   "starting the server\n",
                   sum.pending_migrations, cfg->db);
    } else {
        printf("%s: backed up to %s (%lld rooms, %lld versions)\n", cfg->db, file, sum.rooms,
               sum.versions);
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct migrate_config cfg = {0};
    const char *pos[3];
    int npos = 0;
    char err[1024] = "";
    int rc = EXIT_USAGE;

    int ex = config_exit_code(
        config_parse(opts, sizeof opts / sizeof opts[0], &cfg, argc, argv, usage, pos, 2, &npos));
    if (ex >= 0)
        return ex;
    int level = log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr,
                "roomstate-migrate: --log-level: '%s' is not one of debug, info, warn, "
                "error\n",
                cfg.log_level);
        return EXIT_USAGE;
    }
    log_set_level((enum log_level)level);
    if (npos < 1) {
        fprintf(stderr, "roomstate-migrate: a command is required: up, status, verify, copy, "
                        "backup or restore (see --help)\n");
        return EXIT_USAGE;
    }
    const char *cmd = pos[0];
    bool backup = !strcmp(cmd, "backup"), restore = !strcmp(cmd, "restore");
    if ((backup || restore) != (npos == 2)) {
        fprintf(stderr, "roomstate-migrate: %s\n",
                backup || restore ? "backup and restore take one FILE (see --help)"
                                  : "unexpected argument (see --help)");
        return EXIT_USAGE;
    }
    if ((backup || restore) && !cfg.db[0]) {
        fprintf(stderr, "roomstate-migrate: --db is empty\n");
        return EXIT_USAGE;
    }
    if ((backup || restore) && store_backend_of(cfg.db) == STORE_BACKEND_POSTGRES) {
        fprintf(stderr,
                "roomstate-migrate: %s is for an SQLite database; back up PostgreSQL "
                "with pg_dump and restore with pg_restore (see the README, Backups)\n",
                cmd);
        return EXIT_USAGE;
    }
    if (backup || restore)
        return cmd_backup(&cfg, restore, pos[1]);
    bool up = !strcmp(cmd, "up");
    if (!strcmp(cmd, "copy")) {
        if (!cfg.from || !cfg.from[0] || !cfg.to || !cfg.to[0]) {
            fprintf(stderr, "roomstate-migrate: copy needs --from DB and --to DB\n");
            return EXIT_USAGE;
        }
        return cmd_copy(cfg.from, cfg.to);
    }
    if (!up && strcmp(cmd, "status") && strcmp(cmd, "verify")) {
        fprintf(stderr,
                "roomstate-migrate: unknown command '%s': use up, status, verify, copy, backup "
                "or restore (see --help)\n",
                cmd);
        return EXIT_USAGE;
    }
    if (!cfg.db[0]) {
        fprintf(stderr, "roomstate-migrate: --db is empty\n");
        return EXIT_USAGE;
    }
    struct mdb db = {0};
    char who[512];
    const char *name = display_name(cfg.db, who, sizeof who);
    if (store_backend_of(cfg.db) == STORE_BACKEND_POSTGRES) {
        if (store_pg_connect(cfg.db, &db.pg, err, sizeof err) != STORE_OK) {
            fprintf(stderr, "roomstate-migrate: %s\n", err);
            return EXIT_FAILED;
        }
    } else {
        if (up && make_parents(cfg.db))
            return EXIT_FAILED;
        if (store_sqlite_connect(cfg.db, up, &db.sq, err, sizeof err) != STORE_OK) {
            fprintf(stderr, "roomstate-migrate: %s\n", err);
            return EXIT_FAILED;
        }
    }
    if (up)
        rc = cmd_up(&db, name);
    else
        rc = cmd_status(&db, name, !strcmp(cmd, "verify"));
    if (db.pg)
        PQfinish(db.pg);
    if (db.sq && sqlite3_close(db.sq) != SQLITE_OK) {
        fprintf(stderr, "roomstate-migrate: closing %s: %s\n", cfg.db, sqlite3_errmsg(db.sq));
        rc = EXIT_FAILED;
    }
    return rc;
}
