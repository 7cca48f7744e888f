/* test_connlimit.c — unit tests of server/connlimit's admission: the per-IP limit counts
 * IPv4 addresses (IPv4-mapped IPv6 too) and IPv6 /64 prefixes, the total limit counts every
 * connection, released slots are free again, and thousands of addresses (colliding probe
 * runs included) come and go in the table without a count going astray. */
#include "server/connlimit.h"
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1234)};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return a;
}

#define SA(a) ((const struct sockaddr *)&(a)), (socklen_t)sizeof(a)

static struct connlimit *make(unsigned total, unsigned per_ip)
{
    struct connlimit_config cfg = {.max_connections = total, .max_per_ip = per_ip};
    struct connlimit *cl = connlimit_new(&cfg);
    ck_assert_ptr_nonnull(cl);
    return cl;
}

START_TEST(test_per_ip_limit)
{
    struct connlimit *cl = make(100, 3);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_IP);
    ck_assert_int_eq(connlimit_admit(cl, SA(b)), CONNLIMIT_ADMIT); /* another address */
    ck_assert_uint_eq(connlimit_open(cl), 4);
    connlimit_release(cl, SA(a));
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT); /* a slot came back */
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_IP);
    for (int i = 0; i < 3; i++)
        connlimit_release(cl, SA(a));
    connlimit_release(cl, SA(b));
    ck_assert_uint_eq(connlimit_open(cl), 0);
    connlimit_free(cl);
}
END_TEST

START_TEST(test_v4_mapped_and_v6_prefix)
{
    struct connlimit *cl = make(100, 2);
    struct sockaddr_in a = v4("192.0.2.7");
    struct sockaddr_in6 mapped = v6("::ffff:192.0.2.7");
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(mapped)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_IP); /* the same client */
    /* one /64 is one client, whatever its interface identifier */
    struct sockaddr_in6 h1 = v6("2001:db8:1:2::1"), h2 = v6("2001:db8:1:2:ffff::9"),
                        other = v6("2001:db8:1:3::1");
    ck_assert_int_eq(connlimit_admit(cl, SA(h1)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(h2)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(h1)), CONNLIMIT_REFUSE_IP);
    ck_assert_int_eq(connlimit_admit(cl, SA(other)), CONNLIMIT_ADMIT);
    connlimit_free(cl);
}
END_TEST

START_TEST(test_total_limit_and_no_per_ip)
{
    struct connlimit *cl = make(5, 0); /* 0: no per-IP limit */
    struct sockaddr_in a = v4("10.1.1.1");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_TOTAL);
    struct sockaddr_in b = v4("10.1.1.2");
    ck_assert_int_eq(connlimit_admit(cl, SA(b)), CONNLIMIT_REFUSE_TOTAL);
    connlimit_release(cl, SA(a));
    ck_assert_int_eq(connlimit_admit(cl, SA(b)), CONNLIMIT_ADMIT);
    ck_assert_uint_eq(connlimit_open(cl), 5);
    connlimit_free(cl);
}
END_TEST

START_TEST(test_other_families_count_in_total_only)
{
    struct connlimit *cl = make(3, 1);
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(connlimit_admit(cl, SA(u)), CONNLIMIT_ADMIT);
    ck_assert_int_eq(connlimit_admit(cl, SA(u)), CONNLIMIT_REFUSE_TOTAL);
    ck_assert_int_eq(connlimit_admit(cl, NULL, 0), CONNLIMIT_REFUSE_TOTAL);
    for (int i = 0; i < 3; i++)
        connlimit_release(cl, SA(u));
    ck_assert_uint_eq(connlimit_open(cl), 0);
    connlimit_free(cl);
}
END_TEST

/* Many addresses in and out in an interleaved order: every count stays exact, which also
 * exercises the table's deletion (entries moved back along their probe runs). */
START_TEST(test_many_addresses_churn)
{
    enum { N = 3000, PER = 2 };
    struct connlimit *cl = make(N * PER + 1, PER);
    char ip[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(ip, sizeof ip, "10.%d.%d.%d", round, i / 256, i % 256);
            struct sockaddr_in a = v4(ip);
            for (int k = 0; k < PER; k++)
                ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT);
            ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_IP);
        }
        ck_assert_uint_eq(connlimit_open(cl), N * PER);
        /* release every third address first, then the rest */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < N; i++) {
                if ((i % 3 == 0) != (pass == 0))
                    continue;
                snprintf(ip, sizeof ip, "10.%d.%d.%d", round, i / 256, i % 256);
                struct sockaddr_in a = v4(ip);
                connlimit_release(cl, SA(a));
                if (pass == 0) /* one left: one more fits, then the limit again */
                    ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_ADMIT);
                else
                    connlimit_release(cl, SA(a));
            }
        /* every third address still holds PER slots; everything else is free */
        for (int i = 0; i < N; i++) {
            snprintf(ip, sizeof ip, "10.%d.%d.%d", round, i / 256, i % 256);
            struct sockaddr_in a = v4(ip);
            if (i % 3 == 0) {
                ck_assert_int_eq(connlimit_admit(cl, SA(a)), CONNLIMIT_REFUSE_IP);
                connlimit_release(cl, SA(a));
                connlimit_release(cl, SA(a));
            }
        }
        ck_assert_uint_eq(connlimit_open(cl), 0);
    }
    connlimit_free(cl);
}
END_TEST

/* A small table (16 slots, half full at most) under random admits and releases agrees with
 * a plain count per address at every step. */
START_TEST(test_random_against_model)
{
    enum { TOTAL = 8, PER = 3, ADDRS = 12, STEPS = 20000 };
    struct connlimit *cl = make(TOTAL, PER);
    unsigned model[ADDRS] = {0}, open = 0, seed = 12345;
    char ip[32];
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 16) % ADDRS;
        snprintf(ip, sizeof ip, "172.16.%u.%u", i * 7, i);
        struct sockaddr_in a = v4(ip);
        if ((seed >> 8) & 1) {
            enum connlimit_verdict want = open >= TOTAL     ? CONNLIMIT_REFUSE_TOTAL
                                          : model[i] >= PER ? CONNLIMIT_REFUSE_IP
                                                            : CONNLIMIT_ADMIT;
            ck_assert_int_eq(connlimit_admit(cl, SA(a)), want);
            if (want == CONNLIMIT_ADMIT) {
                model[i]++;
                open++;
            }
        } else if (model[i] > 0) {
            connlimit_release(cl, SA(a));
            model[i]--;
            open--;
        }
        ck_assert_uint_eq(connlimit_open(cl), open);
    }
    connlimit_free(cl);
}
END_TEST

START_TEST(test_header_deadline_thread_starts_and_stops)
{
    struct connlimit_config cfg = {.max_connections = 10, .header_timeout_ms = 100};
    struct connlimit *cl = connlimit_new(&cfg);
    ck_assert_ptr_nonnull(cl);
    connlimit_free(cl); /* joins the sweeper */
    cfg.max_connections = 0;
    ck_assert_ptr_null(connlimit_new(&cfg)); /* a total limit of 0 is refused */
}
END_TEST

static Suite *connlimit_suite(void)
{
    Suite *s = suite_create("connlimit");
    TCase *tc = tcase_create("admission");
    tcase_add_test(tc, test_per_ip_limit);
    tcase_add_test(tc, test_v4_mapped_and_v6_prefix);
    tcase_add_test(tc, test_total_limit_and_no_per_ip);
    tcase_add_test(tc, test_other_families_count_in_total_only);
    tcase_add_test(tc, test_many_addresses_churn);
    tcase_add_test(tc, test_random_against_model);
    tcase_add_test(tc, test_header_deadline_thread_starts_and_stops);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(connlimit_suite)
