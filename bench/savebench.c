/* savebench.c — a micro-benchmark of the two ways a save body is checked and turned into
 * the stored document (no HTTP, no store):
 *
 *   scan  roomscan_filter, the fast path the server tries first (server/http.c);
 *   tree  json_loadb + roomdoc_filter_in_place + json_dumps, the reference path a body
 *         takes when the fast path falls back (server/http.c + server/h_rooms.c);
 *   copy  roomdoc_filter on a body parsed once (the rules alone, the body unchanged).
 *
 *   build/save-bench [--rounds R] [--iterations N] FILE
 *
 * Each round times N calls of each path, interleaved (scan, tree, copy, scan, ...) so that
 * a busy neighbour slows all three alike; it prints every round's ns per call and then the
 * median and minimum of the rounds.  The result of each call is checked (a body that the
 * path does not accept is an error, exit 1), so a path that gives up early is not measured
 * as fast. */
#include "common/roomdoc.h"
#include "common/roomscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 101

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool run_scan(const char *body, size_t len, size_t *out_len)
{
    char *doc = NULL;
    size_t dl = 0;
    struct roomdoc_stats st;
    bool ok = roomscan_filter(body, len, NULL, &doc, &dl, &st) == ROOMSCAN_OK;
    *out_len = dl;
    free(doc);
    return ok;
}

static bool run_tree(const char *body, size_t len, size_t *out_len)
{
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    json_t *stored = NULL;
    struct roomdoc_stats st;
    static struct roomdoc_errors errs;
    bool ok = j && roomdoc_filter_in_place(j, NULL, &stored, &st, &errs) == ROOMDOC_OK;
    char *doc = ok ? json_dumps(stored, JSON_COMPACT) : NULL;
    *out_len = doc ? strlen(doc) : 0;
    ok = ok && doc;
    free(doc);
    json_decref(stored);
    json_decref(j);
    return ok;
}

static bool run_copy(json_t *parsed, size_t *out_len)
{
    json_t *stored = NULL;
    struct roomdoc_stats st;
    static struct roomdoc_errors errs;
    bool ok = roomdoc_filter(parsed, NULL, &stored, &st, &errs) == ROOMDOC_OK;
    *out_len = ok ? json_array_size(json_object_get(stored, "objects")) : 0;
    json_decref(stored);
    return ok;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap > ((size_t)64 << 20)) {
                free(buf);
                fclose(f);
                return NULL; /* over 64 MiB: not a save body */
            }
            char *nb = realloc(buf, cap + 65536 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0'; /* roomscan's sentinel */
    *len = n;
    return buf;
}

static void report(const char *name, double *ns, int rounds)
{
    qsort(ns, (size_t)rounds, sizeof *ns, cmp_double);
    printf("%s: median %.0f ns/call, min %.0f ns/call (%d rounds)\n", name, ns[rounds / 2], ns[0],
           rounds);
}

int main(int argc, char **argv)
{
    int rounds = 15;
    long iterations = 200;
    const char *path = NULL;
    bool usage = false;
    for (int i = 1; i < argc && !usage; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            usage = true;
    }
    if (usage || !path || rounds < 1 || rounds > MAX_ROUNDS || iterations < 1 ||
        iterations > 1000000) {
        fprintf(stderr, "usage: save-bench [--rounds 1..%d] [--iterations 1..1000000] FILE\n",
                MAX_ROUNDS);
        return 2;
    }
    size_t len;
    char *body = read_file(path, &len);
    if (!body) {
        fprintf(stderr, "save-bench: cannot read %s (or over 64 MiB)\n", path);
        return 2;
    }
    json_t *parsed = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    double scan[MAX_ROUNDS], tree[MAX_ROUNDS], copy[MAX_ROUNDS];
    size_t scan_len = 0, tree_len = 0, kept = 0;
    int rc = 0;
    printf("%s: %zu bytes\nround scan_ns tree_ns copy_ns\n", path, len);
    for (int r = 0; r < rounds && rc == 0; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iterations && rc == 0; i++)
            rc = run_scan(body, len, &scan_len) ? 0 : 1;
        double t1 = now_ns();
        for (long i = 0; i < iterations && rc == 0; i++)
            rc = run_tree(body, len, &tree_len) ? 0 : 1;
        double t2 = now_ns();
        for (long i = 0; i < iterations && rc == 0; i++)
            rc = parsed && run_copy(parsed, &kept) ? 0 : 1;
        double t3 = now_ns();
        scan[r] = (t1 - t0) / (double)iterations;
        tree[r] = (t2 - t1) / (double)iterations;
        copy[r] = (t3 - t2) / (double)iterations;
        printf("%d %.0f %.0f %.0f\n", r, scan[r], tree[r], copy[r]);
    }
    if (rc) {
        fprintf(stderr, "save-bench: %s is not a valid room document on every path\n", path);
    } else {
        printf("stored: %zu bytes (scan), %zu bytes (tree), %zu objects\n", scan_len, tree_len,
               kept);
        report("scan", scan, rounds);
        report("tree", tree, rounds);
        report("copy", copy, rounds);
    }
    json_decref(parsed);
    free(body);
    return rc;
}
