/* loadrun.c — set-up and report of a relay-load run (see loadrun.h). */
#include "bench/loadrun.h"

#include "common/auth.h"
#include "common/clock.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void loadrun_snap(const struct loadrun *r, struct loadrun_snap *s)
{
    s->mono_ns = clock_mono_ns();
    s->self_cpu_s = procstat_self_cpu_s();
    s->relay_ok = r->o.relay_pid > 0 && procstat_cpu_s(r->o.relay_pid, &s->relay_cpu_s);
    procstat_cores_read(&s->cores);
}

int loadrun_parse_url(struct loadrun *r)
{
    const char *u = r->o.url, *h, *colon, *slash;
    if (strncmp(u, "ws://", 5)) {
        fprintf(stderr, "relay-load: --url must start with ws://\n");
        return -1;
    }
    h = u + 5;
    slash = strchr(h, '/');
    colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
    size_t hl = colon ? (size_t)(colon - h) : (slash ? (size_t)(slash - h) : strlen(h));
    if (hl == 0 || hl >= sizeof r->host) {
        fprintf(stderr, "relay-load: bad host in --url\n");
        return -1;
    }
    memcpy(r->host, h, hl);
    r->host[hl] = '\0';
    if (strncmp(r->host, "127.", 4) && strcmp(r->host, "localhost")) {
        fprintf(stderr, "relay-load: refusing %s: --url must be a loopback address\n", r->host);
        return -1;
    }
    r->port = 80;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || p < 1 || p > 65535) {
            fprintf(stderr, "relay-load: bad port in --url\n");
            return -1;
        }
        r->port = (int)p;
    }
    snprintf(r->base, sizeof r->base, "%s", slash ? slash : "");
    size_t bl = strlen(r->base);
    if (bl && r->base[bl - 1] == '/')
        r->base[bl - 1] = '\0';
    return 0;
}

static uint64_t rnd_next(uint64_t *s) /* xorshift64 */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const struct loadrun_client *g_sort_cl; /* qsort has no context argument */

static int by_due(const void *a, const void *b)
{
    int64_t da = g_sort_cl[*(const int *)a].due_ns, db = g_sort_cl[*(const int *)b].due_ns;
    return da < db ? -1 : da > db ? 1 : *(const int *)a - *(const int *)b;
}

void loadrun_plan_sends(struct loadrun *r, int64_t now)
{
    uint64_t rs = (uint64_t)r->o.seed * 2654435761ULL + 88172645463325252ULL;
    for (int i = 0; i < r->n; i++) {
        r->cl[i].due_ns = now + (int64_t)(rnd_next(&rs) % (uint64_t)r->period_ns);
        r->send_order[i] = i;
    }
    g_sort_cl = r->cl;
    qsort(r->send_order, (size_t)r->n, sizeof *r->send_order, by_due);
    r->send_next = 0;
}

int loadrun_setup(struct loadrun *r)
{
    char prefix[96], uid[64], user[32];
    int64_t now_s = clock_wall_ms() / 1000;
    unsigned tag = (unsigned)(r->o.seed & 0xffffffffu);
    snprintf(r->uuid_prefix, sizeof r->uuid_prefix, "%08x-0000-4000-8000-", tag);
    if (r->o.prefix)
        snprintf(prefix, sizeof prefix, "%s", r->o.prefix);
    else
        snprintf(prefix, sizeof prefix, "load-%08x-", tag);
    if (hist_init(&r->lat, 0.01, 10000) || hist_init(&r->lag, 0.1, 10000) ||
        hist_init(&r->lat_obj, 0.01, 10000)) {
        fprintf(stderr, "relay-load: out of memory\n");
        return -1;
    }
    r->cl = calloc((size_t)r->n, sizeof *r->cl);
    r->send_order = calloc((size_t)r->n, sizeof *r->send_order);
    r->room_joined = calloc((size_t)r->o.rooms, sizeof *r->room_joined);
    r->room_synced = calloc((size_t)r->o.rooms, sizeof *r->room_synced);
    if (!r->cl || !r->send_order || !r->room_joined || !r->room_synced)
        return -1;
    for (int i = 0; i < r->n; i++) {
        struct loadrun_client *c = &r->cl[i];
        char *tok = NULL;
        c->run = r;
        c->idx = i;
        c->room = i / (int)r->o.players;
        int seat = i % (int)r->o.players; /* the same layout in every room, <= 4.5 m apart */
        c->px = (double)(seat % 5) * 0.9;
        c->pz = (double)(seat / 5 % 5) * 0.9;
        c->last_seq = calloc((size_t)r->o.players, sizeof *c->last_seq);
        c->last_obj_seq = calloc((size_t)r->o.players, sizeof *c->last_obj_seq);
        if (!r->o.raw) {
            snprintf(uid, sizeof uid, "%s%012x", r->uuid_prefix, (unsigned)i);
            snprintf(user, sizeof user, "load-%d", i);
            tok = auth_mint_session(r->o.key, uid, user, now_s, now_s + 3600);
            if (!tok) {
                fprintf(stderr, "relay-load: cannot mint a token\n");
                return -1;
            }
        }
        size_t pl = strlen(r->base) + strlen(prefix) + 32 + (tok ? strlen(tok) + 8 : 0);
        c->path = malloc(pl);
        if (c->path)
            snprintf(c->path, pl, "%s/rooms/%s%d%s%s", r->base, prefix, c->room,
                     tok ? "?token=" : "", tok ? tok : "");
        free(tok);
        if (!c->path || !c->last_seq || !c->last_obj_seq)
            return -1;
    }
    return 0;
}

void loadrun_free(struct loadrun *r)
{
    for (int i = 0; r->cl && i < r->n; i++) {
        free(r->cl[i].path);
        free(r->cl[i].rx);
        free(r->cl[i].last_seq);
        free(r->cl[i].last_obj_seq);
    }
    free(r->cl);
    free(r->send_order);
    free(r->room_joined);
    free(r->room_synced);
    hist_clear(&r->lat);
    hist_clear(&r->lag);
    hist_clear(&r->lat_obj);
}

static void put_num(json_t *o, const char *k, double v, bool known)
{
    json_object_set_new(o, k,
                        known && isfinite(v) ? json_real(round(v * 1000) / 1000) : json_null());
}

static void put_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(v));
}

void loadrun_print_result(const struct loadrun *r)
{
    json_t *o = json_object();
    double dur = (double)r->o.duration, win = 0;
    bool measured = r->have_s1;
    if (!o)
        return;
    if (measured)
        win = (double)(r->s1.mono_ns - r->s0.mono_ns) / 1e9;
    json_object_set_new(o, "test", json_string("relay"));
    json_object_set_new(o, "target", json_string(r->o.target));
    json_object_set_new(o, "generator", json_string("relay-load.c"));
    put_int(o, "rooms", r->o.rooms);
    put_int(o, "clients_per_room", r->o.players);
    put_int(o, "hz", r->o.hz);
    put_num(o, "msg_bytes", r->sent ? (double)r->sent_bytes / (double)r->sent : 0, r->sent > 0);
    put_int(o, "duration_s", r->o.duration);
    put_int(o, "warmup_s", r->o.warmup);
    put_int(o, "drain_s", r->o.drain);
    if (r->error[0])
        json_object_set_new(o, "error", json_string(r->error));
    put_num(o, "connect_s", r->connect_s, r->connect_s > 0);
    put_num(o, "sends_per_s", (double)r->sent_win / dur, true);
    put_int(o, "target_sends_per_s", (long long)r->n * r->o.hz);
    put_num(o, "deliveries_per_s", (double)r->delivered_win / dur, true);
    put_int(o, "target_deliveries_per_s", (long long)r->n * r->o.hz * (r->o.players - 1));
    bool lat = r->lat.count > 0;
    put_num(o, "p50_ms", hist_pct(&r->lat, 50), lat);
    put_num(o, "p90_ms", hist_pct(&r->lat, 90), lat);
    put_num(o, "p99_ms", hist_pct(&r->lat, 99), lat);
    put_num(o, "p999_ms", hist_pct(&r->lat, 99.9), lat);
    put_num(o, "max_ms", r->lat.max_ms, lat);
    put_num(o, "mean_ms", hist_mean(&r->lat), lat);
    put_int(o, "sent", (long long)r->sent);
    put_int(o, "expected_deliveries", (long long)r->expected);
    put_int(o, "delivered", (long long)r->delivered);
    put_int(o, "drops", (long long)r->expected - (long long)r->delivered);
    put_num(o, "drop_pct",
            r->expected ? 100.0 * ((double)r->expected - (double)r->delivered) / (double)r->expected
                        : 0,
            true);
    put_int(o, "seq_gaps", (long long)r->seq_gaps);
    put_int(o, "stale", (long long)r->stale);
    put_int(o, "echoes", (long long)r->echoes);
    put_int(o, "foreign", (long long)r->foreign);
    put_int(o, "bad_msgs", (long long)r->bad_msgs);
    put_int(o, "op_errors", (long long)r->op_errors);
    if (r->first_op_error[0])
        json_object_set_new(o, "first_op_error", json_string(r->first_op_error));
    put_int(o, "closed_early", (long long)r->closed_early);
    put_int(o, "connect_errors", (long long)r->connect_errors);
    if (r->first_close[0])
        json_object_set_new(o, "first_close", json_string(r->first_close));
    if (r->o.objects) { /* held objects: REP_OBJECT, counted apart from the transforms */
        bool lo = r->lat_obj.count > 0;
        put_num(o, "obj_sends_per_s", (double)r->obj_sent_win / dur, true);
        put_num(o, "obj_deliveries_per_s", (double)r->obj_delivered_win / dur, true);
        put_num(o, "obj_p50_ms", hist_pct(&r->lat_obj, 50), lo);
        put_num(o, "obj_p99_ms", hist_pct(&r->lat_obj, 99), lo);
        put_num(o, "obj_max_ms", r->lat_obj.max_ms, lo);
        put_int(o, "obj_expected_deliveries", (long long)r->obj_expected);
        put_int(o, "obj_delivered", (long long)r->obj_delivered);
        put_num(o, "obj_delivered_pct",
                r->obj_expected ? 100.0 * (double)r->obj_delivered / (double)r->obj_expected : 0,
                r->obj_expected > 0);
        put_int(o, "obj_seq_gaps", (long long)r->obj_seq_gaps);
        put_int(o, "obj_stale", (long long)r->obj_stale);
        put_int(o, "obj_last_missing", (long long)r->obj_last_missing);
    }
    put_num(o, "msgs_per_frame",
            r->rx_frames ? (double)(r->delivered + r->obj_delivered) / (double)r->rx_frames : 0,
            r->rx_frames > 0);
    uint64_t bin = 0, bout = 0, bin_max = 0;
    for (int i = 0; i < r->n; i++) {
        bin += r->cl[i].bytes_in_win;
        bout += r->cl[i].bytes_out_win;
        if (r->cl[i].bytes_in_win > bin_max)
            bin_max = r->cl[i].bytes_in_win;
    }
    put_num(o, "bytes_in_per_client_s", (double)bin / (double)r->n / dur, measured);
    put_num(o, "bytes_out_per_client_s", (double)bout / (double)r->n / dur, measured);
    put_num(o, "max_bytes_in_client_s", (double)bin_max / dur, measured);
    put_num(o, "loadgen_cpu_pct", 100.0 * (r->s1.self_cpu_s - r->s0.self_cpu_s) / win,
            measured && win > 0);
    put_num(o, "loadgen_timer_lag_p99_ms", hist_pct(&r->lag, 99), r->lag.count > 0);
    put_int(o, "sends_merged", (long long)r->timer_late);
    bool rel = measured && win > 0 && r->s0.relay_ok && r->s1.relay_ok;
    double rcpu = rel ? 100.0 * (r->s1.relay_cpu_s - r->s0.relay_cpu_s) / win : 0;
    put_int(o, "relay_pid", r->o.relay_pid);
    put_num(o, "relay_cpu_pct", rcpu, rel);
    put_num(o, "relay_rss_mib", r->relay_rss_mib, rel && r->relay_rss_mib >= 0);
    put_num(o, "relay_peak_rss_mib", r->relay_hwm_mib, rel && r->relay_hwm_mib >= 0);
    put_num(o, "relay_peak_rss_kib_per_room", r->relay_hwm_mib * 1024.0 / (double)r->o.rooms,
            rel && r->relay_hwm_mib >= 0);
    put_num(o, "server_cpu_pct", rcpu, rel); /* the anchors' names for the same figures */
    put_num(o, "server_rss_mib", r->relay_rss_mib, rel && r->relay_rss_mib >= 0);
    for (int i = 0; measured && i < r->s1.cores.n; i++) {
        char k[32];
        snprintf(k, sizeof k, "cpu%d_busy_pct", i);
        double b = procstat_core_busy_pct(&r->s0.cores, &r->s1.cores, i);
        put_num(o, k, b, b >= 0);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (s) {
        printf("RESULT %s\n", s);
        fflush(stdout);
    }
    free(s);
    json_decref(o);
}
