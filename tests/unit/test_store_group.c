/* test_store_group.c — group commit (store/store_group.h) and the batch it runs
 * (store_sqlite_save_batch), on a fresh migrated SQLite file per test: a failing save fails
 * alone (savepoints only then), a lost transaction fails only what was in it, many threads
 * get contiguous versions, If-Match races have one winner per version, groups are shared
 * and released, a batch writes nothing but its WAL frames, and the WAL is copied back on a
 * thread of its own. */
#include "common/clock.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_group.h"
#include "store/store_sqlite.h"
#include "store/wal_ckpt.h"
#include "tests/unit/unit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/unit/test_store_util.h"

/* ---- batches and group commit ---- */

static struct store *open_plain(void)
{
    struct store *p = NULL;
    struct store_options o;
    store_options_default(&o);
    o.group_commit = false;
    ck_assert_int_eq(store_open_opts(tsu_path, &o, &p, tsu_err, sizeof tsu_err), STORE_OK);
    return p;
}

static struct store_save_req batch_req(const char *room, const char *doc, int64_t if_match)
{
    struct store_save_req r = {.room_id = room,
                               .doc = doc,
                               .doc_len = strlen(doc),
                               .if_match = if_match,
                               .saved_at_ms = 1,
                               .saved_by = &tsu_alice,
                               .objects_saved = 1,
                               .history_keep = 10};
    return r;
}

START_TEST(test_batch_isolates_failures)
{
    /* an SQL error inside one save (a trigger aborts its statement) */
    tsu_exec("CREATE TRIGGER poison BEFORE INSERT ON room_versions WHEN NEW.room_id = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    struct store *p = open_plain();
    struct store_save_req r[7] = {
        batch_req("a", "{\"a\":1}", -1), batch_req("a", "{\"stale\":1}", 5),
        batch_req("b", "{}", -1),        batch_req("poison", "{}", -1),
        batch_req("a", "{\"a\":2}", 1),  batch_req("c", "{\"c\":1}", -1),
        batch_req("c", "{\"c\":2}", 1),
    };
    r[2].history_keep = 0; /* invalid request */
    struct store_save_result res[7];
    struct store_save_result *resp[7];
    const struct store_save_req *reqp[7];
    enum store_status st[7];
    for (int i = 0; i < 7; i++) {
        reqp[i] = &r[i];
        resp[i] = &res[i];
    }
    store_sqlite_save_batch(p, reqp, resp, st, 7);
    ck_assert_int_eq(st[0], STORE_OK);
    ck_assert_int_eq(res[0].version, 1);
    ck_assert(res[0].created);
    ck_assert_int_eq(st[1], STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(st[2], STORE_ERROR);
    ck_assert_int_eq(st[3], STORE_ERROR);
    ck_assert_int_eq(st[4], STORE_OK); /* sees save 0 of the same batch */
    ck_assert_int_eq(res[4].version, 2);
    ck_assert(!res[4].created);
    ck_assert_int_eq(st[5], STORE_OK);
    ck_assert_int_eq(st[6], STORE_OK);
    ck_assert_int_eq(res[6].version, 2);
    store_close(p);
    /* what is stored: exactly the successful saves */
    struct store_state state;
    ck_assert_int_eq(store_room_get(tsu_s, "a", 0, &state), STORE_OK);
    ck_assert_int_eq(state.version, 2);
    ck_assert_str_eq(state.doc, "{\"a\":2}");
    store_state_clear(&state);
    ck_assert_int_eq(tsu_current_version("b"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("poison"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("c"), 2);
}
END_TEST

static int count_savepoints(unsigned type, void *ctx, void *p, void *x)
{
    (void)type;
    if (!strncmp(sqlite3_sql(p), "SAVEPOINT", 9))
        (*(int *)ctx)++;
    (void)x;
    return 0;
}

START_TEST(test_batch_savepoints_only_on_failure)
{
    /* A batch runs without savepoints while its saves succeed or fail by If-Match (which
     * writes nothing); a save failing otherwise rolls it back, and it runs again with one
     * savepoint per save, the failing one alone failing. */
    tsu_exec("CREATE TRIGGER poison BEFORE INSERT ON room_versions WHEN NEW.room_id = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    struct store *p = open_plain();
    int savepoints = 0;
    ck_assert_int_eq(sqlite3_trace_v2(store_sqlite_db(p), SQLITE_TRACE_STMT, count_savepoints,
                                      &savepoints),
                     SQLITE_OK);
    struct store_save_req r[3] = {batch_req("a", "{\"a\":1}", -1), batch_req("a", "{}", 7),
                                  batch_req("a", "{\"a\":2}", 1)};
    struct store_save_result res[3];
    struct store_save_result *resp[3] = {&res[0], &res[1], &res[2]};
    const struct store_save_req *reqp[3] = {&r[0], &r[1], &r[2]};
    enum store_status st[3];
    store_sqlite_save_batch(p, reqp, resp, st, 3);
    ck_assert_int_eq(st[0], STORE_OK);
    ck_assert_int_eq(st[1], STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(res[1].version, 0);
    ck_assert_int_eq(st[2], STORE_OK);
    ck_assert_int_eq(res[2].version, 2);
    ck_assert_int_eq(savepoints, 0);

    r[0] = batch_req("b", "{}", -1);
    r[1] = batch_req("poison", "{}", -1);
    r[2] = batch_req("a", "{\"a\":3}", 2);
    store_sqlite_save_batch(p, reqp, resp, st, 3);
    ck_assert_int_eq(st[0], STORE_OK);
    ck_assert_int_eq(res[0].version, 1);
    ck_assert_int_eq(st[1], STORE_ERROR);
    ck_assert_int_eq(st[2], STORE_OK);
    ck_assert_int_eq(res[2].version, 3);
    ck_assert_int_eq(savepoints, 3); /* the second run */
    store_close(p);
    ck_assert_int_eq(tsu_current_version("a"), 3);
    ck_assert_int_eq(tsu_current_version("b"), 1);
    ck_assert_int_eq(tsu_current_version("poison"), -(int64_t)STORE_NOT_FOUND);
}
END_TEST

START_TEST(test_batch_lost_transaction)
{
    /* RAISE(ROLLBACK) ends the whole transaction: the saves before it in the batch are lost
     * and must report an error; the saves after it go into a new transaction */
    tsu_exec("CREATE TRIGGER wreck BEFORE INSERT ON room_versions WHEN NEW.room_id = 'wreck' "
             "BEGIN SELECT RAISE(ROLLBACK, 'wrecked'); END;");
    struct store *p = open_plain();
    struct store_save_req r[4] = {
        batch_req("x", "{}", -1),
        batch_req("x", "{}", -1),
        batch_req("wreck", "{}", -1),
        batch_req("y", "{}", -1),
    };
    struct store_save_result res[4];
    struct store_save_result *resp[4];
    const struct store_save_req *reqp[4];
    enum store_status st[4];
    for (int i = 0; i < 4; i++) {
        reqp[i] = &r[i];
        resp[i] = &res[i];
    }
    store_sqlite_save_batch(p, reqp, resp, st, 4);
    ck_assert_int_eq(st[0], STORE_ERROR);
    ck_assert_int_eq(st[1], STORE_ERROR);
    ck_assert_int_eq(res[1].version, 0);
    ck_assert_int_eq(st[2], STORE_ERROR);
    ck_assert_int_eq(st[3], STORE_OK);
    ck_assert_int_eq(res[3].version, 1);
    store_close(p);
    ck_assert_int_eq(tsu_current_version("x"), -(int64_t)STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_current_version("y"), 1);
}
END_TEST

/* Bytes this process has written to any file so far (/proc/self/io). */
static long long bytes_written(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long w = -1;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %lld", &w) == 1)
            break;
    fclose(f);
    ck_assert_int_ge(w, 0);
    return w;
}

/* The frames of the WAL's current generation (its salt changes when it restarts) up to the
 * last commit, and its page size: SQLite's WAL format (a 32-byte header, then frames of a
 * 24-byte header and a page, all big-endian). */
struct wal_count {
    uint32_t salt;
    long frames;
    long page;
};

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static struct wal_count wal_count(void)
{
    char wal[600];
    unsigned char h[32], fh[24];
    struct wal_count c = {0, 0, 0};
    snprintf(wal, sizeof wal, "%s-wal", tsu_path);
    FILE *f = fopen(wal, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(h, 1, sizeof h, f), sizeof h);
    c.page = (long)be32(h + 8);
    c.salt = be32(h + 16);
    for (long i = 0;; i++) {
        if (fseek(f, 32 + i * (24 + c.page), SEEK_SET) != 0 || fread(fh, 1, 24, f) != 24 ||
            be32(fh + 8) != be32(h + 16) || be32(fh + 12) != be32(h + 20))
            break;
        if (be32(fh + 4) != 0) /* a commit frame */
            c.frames = i + 1;
    }
    fclose(f);
    return c;
}

START_TEST(test_batch_writes_only_the_wal)
{
    /* A batch with a save that fails by an SQL error runs again with each save in a
     * SAVEPOINT, whose statement journal keeps the content the pages it changes had before
     * it: the b-tree pages, the free list and the freed pages that earlier saves of the same
     * transaction changed. That journal stays in memory (temp_store): all the process writes
     * for the batch is its WAL frames, not a temporary file besides (with SQLite's default it
     * spills past 64 KiB). */
    tsu_exec("CREATE TRIGGER poison BEFORE INSERT ON room_versions WHEN NEW.room_id = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    enum { DOC = 100 * 1024, N = 5 };
    char *doc = malloc(DOC + 1);
    ck_assert_ptr_nonnull(doc);
    memset(doc, 'a', DOC);
    memcpy(doc, "{\"x\":\"", 6);
    memcpy(doc + DOC - 2, "\"}", 2);
    doc[DOC] = '\0';
    struct store *p = open_plain();
    struct store_save_req r[N];
    const struct store_save_req *reqp[N];
    struct store_save_result res[N];
    struct store_save_result *resp[N];
    enum store_status st[N];
    for (int i = 0; i < N; i++) {
        r[i] = batch_req(i < N - 1 ? "big" : "poison", doc, -1);
        r[i].history_keep = 1; /* each save prunes the one before: freed pages to reuse */
        reqp[i] = &r[i];
        resp[i] = &res[i];
    }
    store_sqlite_save_batch(p, reqp, resp, st, N);
    struct wal_count before = wal_count();
    long long w0 = bytes_written();
    store_sqlite_save_batch(p, reqp, resp, st, N);
    long long w1 = bytes_written();
    struct wal_count after = wal_count();
    for (int i = 0; i < N - 1; i++) {
        ck_assert_int_eq(st[i], STORE_OK);
        ck_assert_int_eq(res[i].version, N + i);
    }
    ck_assert_int_eq(st[N - 1], STORE_ERROR); /* poisoned: the batch ran with savepoints */
    long frames = after.salt == before.salt ? after.frames - before.frames : after.frames;
    ck_assert_int_ge(frames, DOC / after.page); /* a document went to the WAL */
    ck_assert_int_le(w1 - w0, frames * (after.page + 24) + 4096);
    store_close(p);
    free(doc);
}
END_TEST

/* A plain store with the group writer's background checkpoints. */
static struct store *open_checkpointed(void)
{
    struct store *p = NULL;
    struct store_options o;
    store_options_default(&o);
    o.group_commit = false;
    o.background_checkpoint = true;
    ck_assert_int_eq(store_sqlite_open(tsu_path, &o, &p, tsu_err, sizeof tsu_err), STORE_OK);
    return p;
}

static char *big_doc(size_t n, int tag)
{
    char *doc = malloc(n + 1);
    ck_assert_ptr_nonnull(doc);
    memset(doc, 'a' + tag % 26, n);
    memcpy(doc, "{\"x\":\"", 6);
    memcpy(doc + n - 2, "\"}", 2);
    doc[n] = '\0';
    return doc;
}

/* Saves docs[i % ndocs] to room "r<i % rooms>", one batch per save, from save first on. */
static void save_run(struct store *p, int first, int count, int rooms, char **docs, int ndocs)
{
    char room[16];
    for (int i = first; i < first + count; i++) {
        snprintf(room, sizeof room, "r%d", i % rooms);
        struct store_save_req r = batch_req(room, docs[i % ndocs], -1);
        r.history_keep = 2;
        const struct store_save_req *reqp[1] = {&r};
        struct store_save_result res;
        struct store_save_result *resp[1] = {&res};
        enum store_status st;
        store_sqlite_save_batch(p, reqp, resp, &st, 1);
        ck_assert_int_eq(st, STORE_OK);
        ck_assert_int_eq(res.version, i / rooms + 1);
    }
}

START_TEST(test_checkpoints_in_background)
{
    /* The writer's WAL is copied back by the checkpointer's thread past 1,000 frames, not in
     * the commit that crosses them; past WAL_CKPT_WRITER_FRAMES the writer copies the rest
     * and its next transaction restarts the WAL, so it stays bounded; nothing is lost. */
    enum { DOC = 100 * 1024, ROOMS = 20, SAVES = 300, NDOCS = 3 };
    char *docs[NDOCS];
    for (int i = 0; i < NDOCS; i++)
        docs[i] = big_doc(DOC, i);
    struct store *p = open_checkpointed();
    save_run(p, 0, SAVES, ROOMS, docs, NDOCS);
    struct wal_ckpt_stats cs;
    ck_assert(store_sqlite_checkpoint_stats(p, &cs));
    ck_assert_uint_gt(cs.thread_passes, 0);
    ck_assert_int_ge(cs.max_frames, WAL_CKPT_START_FRAMES); /* no checkpoint in a commit */
    ck_assert_int_lt(cs.frames, cs.max_frames);              /* restarted */
    /* one save writes ~15 frames: the WAL never held more than the bound and one save */
    ck_assert_int_lt(cs.max_frames, WAL_CKPT_WAIT_FRAMES + 100);
    char wal[600];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", tsu_path);
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_le(sb.st_size, 32 + (long long)(WAL_CKPT_WAIT_FRAMES + 100) * (8192 + 24));
    store_close(p);
    for (int room = 0; room < ROOMS; room++) { /* each room's last save, whole */
        char id[16];
        int last = SAVES - ROOMS + room;
        snprintf(id, sizeof id, "r%d", room);
        struct store_state state;
        ck_assert_int_eq(store_room_get(tsu_s, id, 0, &state), STORE_OK);
        ck_assert_int_eq(state.version, SAVES / ROOMS);
        ck_assert_uint_eq(state.doc_len, DOC);
        ck_assert(memcmp(state.doc, docs[last % NDOCS], DOC) == 0);
        store_state_clear(&state);
    }
    for (int i = 0; i < NDOCS; i++)
        free(docs[i]);
}
END_TEST

START_TEST(test_checkpoints_behind_a_reader)
{
    /* A reader that keeps an old snapshot stops any checkpoint short of its frames, so the
     * WAL cannot restart: the writer goes on (it does not wait for the reader), the WAL
     * grows past the bound, and restarts once the reader is gone. */
    enum { DOC = 100 * 1024, ROOMS = 10 };
    char *docs[1] = {big_doc(DOC, 0)};
    struct store *p = open_checkpointed();
    save_run(p, 0, 10, ROOMS, docs, 1);
    sqlite3 *reader = NULL;
    ck_assert_int_eq(sqlite3_open(tsu_path, &reader), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM room_versions;", NULL,
                                  NULL, NULL),
                     SQLITE_OK); /* holds its snapshot until COMMIT */
    save_run(p, 10, 400, ROOMS, docs, 1);
    struct wal_ckpt_stats cs;
    ck_assert(store_sqlite_checkpoint_stats(p, &cs));
    ck_assert_int_ge(cs.frames, WAL_CKPT_WAIT_FRAMES); /* held: no restart */
    ck_assert_uint_gt(cs.writer_passes, 0);            /* tried, past WAL_CKPT_WRITER_FRAMES */
    ck_assert_int_eq(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    save_run(p, 410, 20, ROOMS, docs, 1);
    ck_assert(store_sqlite_checkpoint_stats(p, &cs));
    ck_assert_int_lt(cs.frames, WAL_CKPT_START_FRAMES); /* restarted */
    store_close(p);
    ck_assert_int_eq(tsu_current_version("r0"), 43);
    free(docs[0]);
}
END_TEST

#define GROUP_THREADS 16
#define GROUP_SAVES 20

struct group_arg {
    int64_t versions[GROUP_SAVES];
    int ok, failed, precondition;
    bool race; /* If-Match with the version just read */
};

static void *group_writer(void *p)
{
    struct group_arg *a = p;
    struct store *ws = NULL;
    char e[512];
    if (store_open(tsu_path, &ws, e, sizeof e) != STORE_OK) {
        a->failed = GROUP_SAVES;
        return NULL;
    }
    for (int i = 0; i < GROUP_SAVES; i++) {
        struct store_save_result res;
        int64_t cur = 0;
        if (a->race && store_room_version(ws, "g", &cur) != STORE_OK)
            cur = 0; /* no state yet: a conditional save cannot win */
        enum store_status st = tsu_save(ws, "g", "{\"g\":true}", a->race ? cur : -1, 1000, &res);
        if (st == STORE_OK)
            a->versions[a->ok++] = res.version;
        else if (st == STORE_PRECONDITION_FAILED)
            a->precondition++;
        else
            a->failed++;
    }
    store_close(ws);
    return NULL;
}

/* Runs GROUP_THREADS writers on room "g", currently at version base; checks that the
 * acknowledged versions are exactly base+1..base+successes; returns the successes. */
static int run_group(bool race, int64_t base)
{
    pthread_t t[GROUP_THREADS];
    struct group_arg *a = calloc(GROUP_THREADS, sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < GROUP_THREADS; i++) {
        a[i].race = race;
        ck_assert_int_eq(pthread_create(&t[i], NULL, group_writer, &a[i]), 0);
    }
    for (int i = 0; i < GROUP_THREADS; i++)
        pthread_join(t[i], NULL);
    int total = 0;
    char seen[GROUP_THREADS * GROUP_SAVES + 2] = {0};
    for (int i = 0; i < GROUP_THREADS; i++) {
        ck_assert_int_eq(a[i].failed, 0);
        ck_assert_int_eq(a[i].ok + a[i].precondition, GROUP_SAVES);
        if (!race)
            ck_assert_int_eq(a[i].precondition, 0);
        for (int j = 0; j < a[i].ok; j++) {
            int64_t v = a[i].versions[j];
            ck_assert(v > base && v <= base + GROUP_THREADS * GROUP_SAVES);
            ck_assert_int_eq(seen[v - base], 0); /* exactly one writer per version */
            seen[v - base] = 1;
        }
        total += a[i].ok;
    }
    for (int v = 1; v <= total; v++)
        ck_assert_int_eq(seen[v], 1); /* contiguous */
    ck_assert_int_eq(tsu_current_version("g"), base + total);
    free(a);
    return total;
}

START_TEST(test_group_many_threads)
{
    int total = run_group(false, 0);
    ck_assert_int_eq(total, GROUP_THREADS * GROUP_SAVES);
    struct store_group_stats gs;
    ck_assert(store_group_stats_of(tsu_s, &gs));
    ck_assert_uint_eq(gs.saves, (unsigned long long)total);
    ck_assert(gs.batches >= 1 && gs.batches <= gs.saves);
    struct store_version_info *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_room_versions(tsu_s, "g", &v, &n), STORE_OK);
    ck_assert_uint_eq(n, (size_t)total);
    free(v);
}
END_TEST

START_TEST(test_group_if_match_race)
{
    struct store_save_result res;
    ck_assert_int_eq(store_room_version(tsu_s, "g", &(int64_t){0}), STORE_NOT_FOUND);
    ck_assert_int_eq(tsu_save(tsu_s, "g", "{}", -1, 1000, &res), STORE_OK);
    /* everyone races with If-Match: each version has exactly one winner (checked in
     * run_group), the losers get 412, and nobody fails otherwise */
    int total = run_group(true, 1);
    ck_assert_int_ge(total, 1);
}
END_TEST

START_TEST(test_group_shared_and_released)
{
    struct store *a = NULL, *b = NULL;
    struct store_save_result res;
    struct store_group_stats ga, gb;
    ck_assert_int_eq(store_open(tsu_path, &a, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(store_open(tsu_path, &b, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(a, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(tsu_save(b, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    ck_assert(store_group_stats_of(a, &ga));
    ck_assert(store_group_stats_of(b, &gb));
    ck_assert_uint_eq(ga.saves, 2); /* one writer for the file */
    ck_assert_uint_eq(gb.saves, 2);
    store_close(a);
    store_close(tsu_s); /* the fixture'tsu_s store */
    tsu_s = NULL;
    ck_assert_int_eq(tsu_save(b, "sh", "{}", -1, 10, &res), STORE_OK); /* still served */
    ck_assert_int_eq(res.version, 3);
    store_close(b);
    /* all closed: the writer stopped; a new store starts a new one */
    ck_assert_int_eq(store_open(tsu_path, &tsu_s, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(tsu_s, "sh", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 4);
    ck_assert(store_group_stats_of(tsu_s, &ga));
    ck_assert_uint_eq(ga.saves, 1);
}
END_TEST

/* Another connection holds the write lock: a save (plain or group commit) and a delete
 * fail with STORE_BUSY after lock_wait_ms (not the old 25 s of retries), storing nothing;
 * a save's own deadline_ns shortens the wait. */
static void lock_bound_case(bool group)
{
    struct store *p = NULL;
    struct store_options o;
    struct store_save_result res;
    sqlite3 *holder = NULL;
    store_options_default(&o);
    o.group_commit = group;
    o.lock_wait_ms = 300;
    ck_assert_int_eq(store_open_opts(tsu_path, &o, &p, tsu_err, sizeof tsu_err), STORE_OK);
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(store_sqlite_connect(tsu_path, false, &holder, tsu_err, sizeof tsu_err),
                     STORE_OK);
    ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t0 = clock_mono_ns();
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_BUSY);
    int64_t took_ms = (clock_mono_ns() - t0) / 1000000;
    ck_assert_int_ge(took_ms, 250);
    ck_assert_int_lt(took_ms, 3000);
    struct store_save_req r = batch_req("lk", "{}", -1);
    r.deadline_ns = clock_mono_ns() + 50 * 1000000LL; /* shorter than lock_wait_ms */
    t0 = clock_mono_ns();
    ck_assert_int_eq(store_room_save(p, &r, &res), STORE_BUSY);
    ck_assert_int_lt((clock_mono_ns() - t0) / 1000000, 280);
    ck_assert_int_eq(store_room_delete(p, "lk", -1), STORE_BUSY);
    ck_assert_int_eq(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(holder);
    ck_assert_int_eq(tsu_current_version("lk"), 1); /* nothing of the refused ones stored */
    ck_assert_int_eq(tsu_save(p, "lk", "{}", -1, 10, &res), STORE_OK);
    ck_assert_int_eq(res.version, 2);
    store_close(p);
}

START_TEST(test_lock_wait_bounded_plain)
{
    lock_bound_case(false);
}
END_TEST

START_TEST(test_lock_wait_bounded_group)
{
    lock_bound_case(true);
}
END_TEST

/* ---- queued saves (store_group_save_async) ---- */

struct async_rec {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int answered;
    enum store_status st[8];
    int order[8]; /* which save was answered n-th */
};

struct async_arg {
    struct async_rec *rec;
    int index;
};

static void async_done(void *p, enum store_status st)
{
    struct async_arg *a = p;
    pthread_mutex_lock(&a->rec->mu);
    a->rec->st[a->index] = st;
    a->rec->order[a->rec->answered++] = a->index;
    pthread_cond_signal(&a->rec->cond);
    pthread_mutex_unlock(&a->rec->mu);
}

START_TEST(test_group_save_async)
{
    /* Queued saves are answered through their callback, in queue order, with the status and
     * result a blocking save gets; one still queued past its deadline is refused
     * (STORE_BUSY) and not stored; a store without a group queues nothing. */
    struct async_rec rec = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct async_arg args[5];
    struct store_save_req r[5] = {batch_req("q", "{\"n\":1}", -1), batch_req("q", "{\"n\":2}", 1),
                                  batch_req("q", "{\"n\":9}", 7), batch_req("late", "{}", -1),
                                  batch_req("q", "{\"n\":3}", -1)};
    struct store_save_result res[5];
    for (int i = 0; i < 5; i++) {
        r[i].deadline_ns = clock_mono_ns() + 10 * 1000000000LL;
        args[i] = (struct async_arg){&rec, i};
    }
    r[3].deadline_ns = 1; /* long past */
    for (int i = 0; i < 5; i++)
        ck_assert(store_group_save_async(tsu_s, &r[i], &res[i], async_done, &args[i]));
    pthread_mutex_lock(&rec.mu);
    int64_t until = clock_mono_ns() + 20 * 1000000000LL;
    while (rec.answered < 5 && clock_mono_ns() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&rec.cond, &rec.mu, &ts);
    }
    pthread_mutex_unlock(&rec.mu);
    ck_assert_int_eq(rec.answered, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rec.order[i], i);
    ck_assert_int_eq(rec.st[0], STORE_OK);
    ck_assert_int_eq(res[0].version, 1);
    ck_assert(res[0].created);
    ck_assert_int_eq(rec.st[1], STORE_OK);
    ck_assert_int_eq(res[1].version, 2);
    ck_assert_int_eq(rec.st[2], STORE_PRECONDITION_FAILED);
    ck_assert_int_eq(rec.st[3], STORE_BUSY);
    ck_assert_int_eq(rec.st[4], STORE_OK);
    ck_assert_int_eq(res[4].version, 3);
    ck_assert_int_eq(tsu_current_version("q"), 3);
    ck_assert_int_eq(tsu_current_version("late"), -(int64_t)STORE_NOT_FOUND);

    struct store *p = open_plain(); /* no group */
    ck_assert(!store_group_save_async(p, &r[0], &res[0], async_done, &args[0]));
    store_close(p);
}
END_TEST

static Suite *store_group_suite(void)
{
    Suite *su = suite_create("store_group");
    TCase *tc = tcase_create("store_group");
    tcase_add_checked_fixture(tc, tsu_setup, tsu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batch_isolates_failures);
    tcase_add_test(tc, test_batch_savepoints_only_on_failure);
    tcase_add_test(tc, test_batch_lost_transaction);
    tcase_add_test(tc, test_batch_writes_only_the_wal);
    tcase_add_test(tc, test_checkpoints_in_background);
    tcase_add_test(tc, test_checkpoints_behind_a_reader);
    tcase_add_test(tc, test_group_many_threads);
    tcase_add_test(tc, test_group_if_match_race);
    tcase_add_test(tc, test_group_shared_and_released);
    tcase_add_test(tc, test_group_save_async);
    tcase_add_test(tc, test_lock_wait_bounded_plain);
    tcase_add_test(tc, test_lock_wait_bounded_group);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_SUITE(store_group_suite)
