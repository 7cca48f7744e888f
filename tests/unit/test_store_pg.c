/* test_store_pg.c — what the PostgreSQL backend adds that needs no running server: which
 * backend a --db value selects, how a connection string is named in messages (never with
 * its password), connection failures classified (retry or not) and named, the password
 * file, and the backend-neutral migration report (migrations_report_merge).  Everything
 * that needs a live PostgreSQL is in tests/integration/test_postgres.py. */
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_pg.h"
#include "tests/unit/unit.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_backend_of)
{
    ck_assert_int_eq(store_backend_of("postgres://u@h/db"), STORE_BACKEND_POSTGRES);
    ck_assert_int_eq(store_backend_of("postgresql://u@h:5433/db"), STORE_BACKEND_POSTGRES);
    ck_assert_int_eq(store_backend_of("host=db dbname=rooms"), STORE_BACKEND_POSTGRES);
    ck_assert_int_eq(store_backend_of("  dbname = rooms"), STORE_BACKEND_POSTGRES);
    ck_assert_int_eq(store_backend_of("./data/roomstate.db"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of("/var/lib/x=y.db"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of("./a=b.db"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of("rooms.db"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of("postgresql:rooms.db"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of("=x"), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of(""), STORE_BACKEND_SQLITE);
    ck_assert_int_eq(store_backend_of(NULL), STORE_BACKEND_SQLITE);
}
END_TEST

START_TEST(test_describe_hides_password)
{
    char out[512];
    store_pg_describe("postgresql://alice:s3cret@db.example:6543/rooms", out, sizeof out);
    ck_assert_str_eq(out, "PostgreSQL at host db.example port 6543, database rooms, user alice");
    store_pg_describe("host=10.0.0.5 dbname=r user=bob password=s3cret", out, sizeof out);
    ck_assert_ptr_null(strstr(out, "s3cret"));
    ck_assert_ptr_nonnull(strstr(out, "host 10.0.0.5 port 5432"));
    ck_assert_ptr_nonnull(strstr(out, "database r, user bob"));
    store_pg_describe("postgresql://u:pw@[::1/x", out, sizeof out);
    ck_assert_ptr_nonnull(strstr(out, "invalid connection string"));
    ck_assert_ptr_null(strchr(out, '\n'));
}
END_TEST

/* A loopback port nobody listens on (bound, then closed). */
static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(test_connect_failures)
{
    char uri[128], err[768], want[64];
    PGconn *c = (PGconn *)1;
    int port = dead_port();
    unsetenv("ROOMSTATE_DB_PASSWORD_FILE");
    snprintf(uri, sizeof uri, "postgresql://u:topsecret@127.0.0.1:%d/rooms", port);
    /* unreachable: worth retrying, and the message names the server, not the password */
    ck_assert_int_eq(store_pg_connect(uri, &c, err, sizeof err), STORE_BUSY);
    ck_assert_ptr_null(c);
    snprintf(want, sizeof want, "host 127.0.0.1 port %d", port);
    ck_assert_msg(strstr(err, want), "%s", err);
    ck_assert_ptr_null(strstr(err, "topsecret"));
    ck_assert_ptr_null(strchr(err, '\n'));
    /* a connection string libpq cannot parse: not worth retrying */
    ck_assert_int_eq(store_pg_connect("postgresql://u@127.0.0.1:notaport/x", &c, err, sizeof err),
                     STORE_ERROR);
    /* store_open on such a URI: the PostgreSQL backend answers (no SQLite file appears) */
    struct store *s = (struct store *)1;
    ck_assert_int_eq(store_open(uri, &s, err, sizeof err), STORE_BUSY);
    ck_assert_ptr_null(s);
    ck_assert_int_ne(access("postgresql:", F_OK), 0);
}
END_TEST

START_TEST(test_password_file)
{
    char err[768];
    PGconn *c = (PGconn *)1;
    setenv("ROOMSTATE_DB_PASSWORD_FILE", "/nonexistent/roomstate-pw", 1);
    ck_assert_int_eq(store_pg_connect("postgresql://u@127.0.0.1/x", &c, err, sizeof err),
                     STORE_ERROR);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "ROOMSTATE_DB_PASSWORD_FILE /nonexistent/roomstate-pw"), "%s", err);
    unsetenv("ROOMSTATE_DB_PASSWORD_FILE");
}
END_TEST

START_TEST(test_report_merge)
{
    static const struct schema_migration list[] = {
        {1, "a", "CREATE TABLE a (x INT);\n"},
        {2, "b", "CREATE TABLE b (x INT);\n"},
        {3, "c", "CREATE TABLE c (x INT);\n"},
    };
    struct migrations_applied *ap = NULL;
    size_t n = 0, cap = 0;
    struct migrations_report r;
    char ck1[MIGRATIONS_SHA256_HEX], err[256];
    migrations_checksum(list[0].sql, ck1);
    ck_assert_int_eq(migrations_applied_push(&ap, &n, &cap, 1, "a", ck1, "t1"), 0);
    ck_assert_int_eq(migrations_applied_push(&ap, &n, &cap, 2, "b", "deadbeef", "t2"), 0);
    ck_assert_int_eq(migrations_applied_push(&ap, &n, &cap, 7, "future", "x", "t7"), 0);
    ck_assert_int_eq(migrations_report_merge(list, 3, ap, n, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_uint_eq(r.n, 4);
    ck_assert_int_eq(r.rows[0].state, MIGRATIONS_STATE_APPLIED);
    ck_assert_int_eq(r.rows[1].state, MIGRATIONS_STATE_MODIFIED);
    ck_assert_int_eq(r.rows[2].state, MIGRATIONS_STATE_PENDING);
    ck_assert_int_eq(r.rows[2].version, 3);
    ck_assert_int_eq(r.rows[3].state, MIGRATIONS_STATE_UNKNOWN);
    ck_assert_str_eq(r.rows[3].applied_at, "t7");
    ck_assert_int_eq(migrations_report_verify(&r, err, sizeof err), MIGRATIONS_MODIFIED);
    ck_assert_ptr_nonnull(strstr(err, "0002_b"));
    migrations_report_clear(&r);
    /* only the first applied: pending */
    ck_assert_int_eq(migrations_report_merge(list, 3, ap, 1, &r, err, sizeof err), MIGRATIONS_OK);
    ck_assert_int_eq(migrations_report_current(&r, err, sizeof err), MIGRATIONS_PENDING);
    ck_assert_ptr_nonnull(strstr(err, "2 migration(s) pending, the first is 0002_b"));
    migrations_report_clear(&r);
    /* a list out of order is refused */
    static const struct schema_migration bad[] = {{2, "b", ""}, {1, "a", ""}};
    ck_assert_int_eq(migrations_report_merge(bad, 2, NULL, 0, &r, err, sizeof err),
                     MIGRATIONS_ERROR);
    free(ap);
}
END_TEST

START_TEST(test_embedded_pg_schema)
{
    /* one PostgreSQL migration per SQLite one, same versions and names, different text */
    ck_assert_int_eq(schema_migrations_pg_embedded_count, schema_migrations_embedded_count);
    for (int i = 0; i < schema_migrations_pg_embedded_count; i++) {
        ck_assert_int_eq(schema_migrations_pg_embedded[i].version,
                         schema_migrations_embedded[i].version);
        ck_assert_str_eq(schema_migrations_pg_embedded[i].name, schema_migrations_embedded[i].name);
        ck_assert_str_ne(schema_migrations_pg_embedded[i].sql, schema_migrations_embedded[i].sql);
    }
}
END_TEST

static Suite *store_pg_suite(void)
{
    Suite *s = suite_create("store_pg");
    TCase *tc = tcase_create("offline");
    tcase_add_test(tc, test_backend_of);
    tcase_add_test(tc, test_describe_hides_password);
    tcase_add_test(tc, test_connect_failures);
    tcase_add_test(tc, test_password_file);
    tcase_add_test(tc, test_report_merge);
    tcase_add_test(tc, test_embedded_pg_schema);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(store_pg_suite)
