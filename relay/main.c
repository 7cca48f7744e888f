/* main.c — roomstate-relay: the WebSocket authority relay (docs/relay-protocol.md).  Reads the
 * configuration table, loads the keys, starts the transport (relay/ws.c) with the room rules
 * (relay/room.c) and runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
#include "common/auth.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "relay/fleet.h"
#include "relay/persist.h"
#include "relay/room.h"
#include "relay/ws.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relay_main_config {
    const char *listen;
    const char *nakama_key_file;
    bool require_key;
    const char *server_url;
    const char *service_key_file;
    long long leeway;
    long long max_token_lifetime;
    long long max_players;
    long long tick_hz;
    long long empty_room_ttl_s;
    long long max_frame_bytes;
    const char *grace;
    long long max_msgs_per_s;
    long long max_outbox_bytes;
    long long far_distance_cm;
    const char *log_level;
    const char *event_loop;
    long long flush_spacing_ms;
    const char *metrics_listen;
    long long lease_ttl_ms;
    long long checkpoint_interval_ms;
    long long drain_timeout_ms;
    const char *instance_id;
};

static const struct config_opt opts[] = {
    {"--listen", "ROOMSTATE_RELAY_LISTEN", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, listen),
     "HOST:PORT to listen on (default 127.0.0.1:8090, or 127.0.0.1:$PORT when PORT is set)"},
    {"--nakama-key-file", "NAKAMA_SESSION_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, nakama_key_file),
     "file holding Nakama's session.encryption_key (or the key itself in env "
     "NAKAMA_SESSION_KEY; default: Nakama's dev key, with a warning)"},
    {"--require-key", "ROOMSTATE_REQUIRE_KEY", CONFIG_BOOL, "0", 0, 0,
     offsetof(struct relay_main_config, require_key),
     "refuse to start without a configured session key (production)"},
    {"--server-url", "ROOMSTATE_SERVER_URL", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, server_url),
     "roomstate-server base URL for restore and save (none: persistence off)"},
    {"--service-key-file", "ROOMSTATE_SERVICE_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, service_key_file),
     "file holding the service key used to call the server (or the key itself in env "
     "ROOMSTATE_SERVICE_KEY)"},
    {"--leeway", "ROOMSTATE_LEEWAY", CONFIG_INT, "0", 0, 300,
     offsetof(struct relay_main_config, leeway),
     "clock leeway in seconds for the token's exp, nbf and iat"},
    {"--max-token-lifetime", "ROOMSTATE_MAX_TOKEN_LIFETIME", CONFIG_INT, AUTH_MAX_LIFETIME_DEFAULT,
     60, 31536000, offsetof(struct relay_main_config, max_token_lifetime),
     "longest session token lifetime in seconds (exp - iat, or exp - now without iat)"},
    {"--max-players", "ROOMSTATE_RELAY_MAX_PLAYERS", CONFIG_INT, "20", 1, 1000,
     offsetof(struct relay_main_config, max_players), "players per room"},
    {"--tick-hz", "ROOMSTATE_RELAY_TICK_HZ", CONFIG_INT, "20", 1, 120,
     offsetof(struct relay_main_config, tick_hz), "relay tick (fan-out) rate"},
    {"--empty-room-ttl", "ROOMSTATE_RELAY_EMPTY_TTL", CONFIG_INT, "30", 0, 86400,
     offsetof(struct relay_main_config, empty_room_ttl_s),
     "seconds an empty room is kept in memory"},
    {"--max-frame", "ROOMSTATE_RELAY_MAX_FRAME", CONFIG_INT, "65536", 1024, 16777216,
     offsetof(struct relay_main_config, max_frame_bytes),
     "largest incoming message in bytes (after reassembly of fragments)"},
    {"--grace", "ROOMSTATE_RELAY_GRACE", CONFIG_STRING, "10s", 0, 0,
     offsetof(struct relay_main_config, grace),
     "reconnection grace after a drop without close frame: N (seconds), Ns or Nms"},
    {"--max-msg-rate", "ROOMSTATE_RELAY_MAX_MSG_RATE", CONFIG_INT, "240", 1, 100000,
     offsetof(struct relay_main_config, max_msgs_per_s),
     "messages a client may send per second (burst twice that); more are dropped"},
    {"--max-outbox", "ROOMSTATE_RELAY_MAX_OUTBOX", CONFIG_INT, "1048576", 65536, 1073741824,
     offsetof(struct relay_main_config, max_outbox_bytes),
     "reliable backlog per client in bytes before it is closed as a slow consumer"},
    {"--event-loop", "ROOMSTATE_RELAY_EVENT_LOOP", CONFIG_STRING, "ev", 0, 0,
     offsetof(struct relay_main_config, event_loop),
     "ev (libev: epoll, the default) or poll (libwebsockets' own poll() loop)"},
    {"--flush-spacing-ms", "ROOMSTATE_RELAY_FLUSH_SPACING_MS", CONFIG_INT, "10", 0, 50,
     offsetof(struct relay_main_config, flush_spacing_ms),
     "most time between two leading-edge flushes of transforms, reached when the event loop's "
     "thread is busy (0: a flush after every loop pass, however busy)"},
    {"--far-distance-cm", "ROOMSTATE_RELAY_FAR_DISTANCE_CM", CONFIG_INT, "800", 0, 100000000,
     offsetof(struct relay_main_config, far_distance_cm),
     "objects farther than this from a recipient's head are sent at the idle rate"},
    {"--lease-ttl-ms", "ROOMSTATE_RELAY_LEASE_TTL_MS", CONFIG_INT, "5000", 0, 60000,
     offsetof(struct relay_main_config, lease_ttl_ms),
     "with --server-url: a room is hosted under a lease of this many ms (renewed every third), "
     "checkpointed and handed over on drain; 0: no leases, no checkpoints (one relay only)"},
    {"--checkpoint-interval-ms", "ROOMSTATE_RELAY_CHECKPOINT_INTERVAL_MS", CONFIG_INT, "2000", 100,
     600000, offsetof(struct relay_main_config, checkpoint_interval_ms),
     "a room that changed is checkpointed this often (at most this much is lost in a crash)"},
    {"--drain-timeout-ms", "ROOMSTATE_RELAY_DRAIN_TIMEOUT_MS", CONFIG_INT, "10000", 100, 600000,
     offsetof(struct relay_main_config, drain_timeout_ms),
     "after SIGTERM the relay exits within this bound (rooms handed over, clients closed)"},
    {"--instance-id", "ROOMSTATE_RELAY_INSTANCE_ID", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, instance_id),
     "lease holder id, 1..128 printable ASCII, unique per process start (default: "
     "HOST-PID-RANDOM)"},
    {"--log-level", "ROOMSTATE_LOG_LEVEL", CONFIG_STRING, "info", 0, 0,
     offsetof(struct relay_main_config, log_level), "debug, info, warn or error"},
    {"--metrics-listen", "ROOMSTATE_RELAY_METRICS_LISTEN", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct relay_main_config, metrics_listen),
     "HOST:PORT serving /metrics with per-room and per-client series (room and user ids; "
     "keep it private, e.g. 127.0.0.1:9091); none: off.  The players' port serves /metrics "
     "with totals only"},
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* "10", "10s", "1500ms" -> milliseconds; -1 when malformed or over a day. */
static long long parse_duration_ms(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    if (!strcmp(end, "ms"))
        ;
    else if (!strcmp(end, "s") || !*end)
        v = v > 86400 ? -1 : v * 1000;
    else
        return -1;
    return v > 86400000 ? -1 : v;
}

int main(int argc, char **argv)
{
    struct relay_main_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char *session_key = NULL, *service_key = NULL;
    struct ws_server *srv = NULL;
    int rc = 1;
    int ex = config_exit_code(
        config_parse(opts, sizeof opts / sizeof opts[0], &cfg, argc, argv,
                     "usage: roomstate-relay [options]\n"
                     "The roomstate WebSocket relay: ws://HOST:PORT/rooms/{room_id} "
                     "(token in Authorization: Bearer or ?token=), /healthz, /readyz, /metrics.\n"
                     "Every option is also an environment variable (the flag wins).  Secrets: "
                     "NAKAMA_SESSION_KEY /\nROOMSTATE_SERVICE_KEY in the environment, or files "
                     "named by the *_FILE options.",
                     NULL, 0, NULL));
    if (ex >= 0)
        return ex;
    if (keys_set_log_level(cfg.log_level) != 0)
        return 2;

    char listen_buf[64];
    const char *listen = cfg.listen;
    if (!listen) {
        const char *port = getenv("PORT");
        if (port && *port) {
            snprintf(listen_buf, sizeof listen_buf, "127.0.0.1:%s", port);
            listen = listen_buf;
        } else {
            listen = "127.0.0.1:8090";
        }
    }
    char host[256];
    int port = 0;
    if (config_split_hostport(listen, host, sizeof host, &port)) {
        fprintf(stderr, "--listen: '%s' is not HOST:PORT\n", listen);
        return 2;
    }
    char metrics_host[256] = "";
    int metrics_port = 0;
    if (cfg.metrics_listen && *cfg.metrics_listen &&
        config_split_hostport(cfg.metrics_listen, metrics_host, sizeof metrics_host,
                              &metrics_port)) {
        fprintf(stderr, "--metrics-listen: '%s' is not HOST:PORT\n", cfg.metrics_listen);
        return 2;
    }
    long long grace_ms = parse_duration_ms(cfg.grace);
    if (grace_ms < 0) {
        fprintf(stderr, "--grace: '%s' is not N, Ns or Nms (at most a day)\n", cfg.grace);
        return 2;
    }

    struct keys_source ks = {.session_file = cfg.nakama_key_file,
                             .session_value = getenv("NAKAMA_SESSION_KEY"),
                             .require_session = cfg.require_key,
                             .service_file = cfg.service_key_file,
                             .service_value = getenv("ROOMSTATE_SERVICE_KEY")};
    if (keys_load(&ks, &session_key, &service_key) != 0)
        return 2;
    if (cfg.server_url && *cfg.server_url && !service_key) {
        fprintf(stderr, "--server-url needs a service key (--service-key-file or "
                        "ROOMSTATE_SERVICE_KEY_FILE)\n");
        rc = 2;
        goto out;
    }

    if (strcmp(cfg.event_loop, "ev") != 0 && strcmp(cfg.event_loop, "poll") != 0) {
        fprintf(stderr, "--event-loop: '%s' is not ev or poll\n", cfg.event_loop);
        rc = 2;
        goto out;
    }
    struct relay_config rules;
    relay_config_defaults(&rules);
    rules.max_players = (unsigned)cfg.max_players;
    rules.tick_hz = (unsigned)cfg.tick_hz;
    rules.grace_ms = grace_ms;
    rules.empty_ttl_ms = cfg.empty_room_ttl_s * 1000;
    rules.max_frame_bytes = (size_t)cfg.max_frame_bytes;
    rules.in_rate_per_s = (unsigned)cfg.max_msgs_per_s;
    rules.outbox_max_bytes = (size_t)cfg.max_outbox_bytes;
    rules.far_distance_m = (double)cfg.far_distance_cm / 100.0;

    struct persist_config pcfg = {
        .server_url = cfg.server_url,
        .service_key = service_key,
        .service_name = "roomstate-relay",
        .timeout_ms = 5000,
    };
    if (cfg.lease_ttl_ms != 0 && cfg.lease_ttl_ms < 1000) {
        fprintf(stderr, "--lease-ttl-ms: 0 (off) or 1000..60000\n");
        rc = 2;
        goto out;
    }
    if (cfg.instance_id) {
        size_t n = strlen(cfg.instance_id);
        bool ok = n >= 1 && n <= FLEET_INSTANCE_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = cfg.instance_id[i] > 0x20 && cfg.instance_id[i] < 0x7f;
        if (!ok) {
            fprintf(stderr, "--instance-id: 1..128 printable ASCII characters, no spaces\n");
            rc = 2;
            goto out;
        }
    }
    struct fleet_config fcfg = {
        .instance_id = cfg.instance_id,
        .lease_ttl_ms = cfg.lease_ttl_ms,
        .checkpoint_interval_ms = cfg.checkpoint_interval_ms,
        .persist = &pcfg,
    };
    bool persist_on = cfg.server_url && *cfg.server_url;
    struct ws_config wcfg = {
        .host = host,
        .port = port,
        .keys = {.session_key = session_key,
                 .session_key_len = strlen(session_key),
                 .service_key = service_key,
                 .service_key_len = service_key ? strlen(service_key) : 0,
                 .leeway_s = cfg.leeway,
                 .max_lifetime_s = cfg.max_token_lifetime},
        .rules = &rules,
        .persist = persist_on ? &pcfg : NULL,
        .fleet = persist_on && cfg.lease_ttl_ms > 0 ? &fcfg : NULL,
        .drain_timeout_ms = cfg.drain_timeout_ms,
        .poll_loop = strcmp(cfg.event_loop, "poll") == 0,
        .flush_spacing_ms = (unsigned)cfg.flush_spacing_ms,
        .metrics_host = metrics_host,
        .metrics_port = metrics_port,
    };

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv = ws_server_new(&wcfg);
    if (!srv)
        goto out;
    log_info("relay: listening on ws://%s:%d/rooms/{room_id} (max %u players, tick %u Hz, "
             "grace %lld ms, persistence %s, leases %s, event loop %s)",
             host, port, rules.max_players, rules.tick_hz, grace_ms,
             wcfg.persist ? cfg.server_url : "off", wcfg.fleet ? "on" : "off", cfg.event_loop);
    rc = ws_server_run(srv, &stop_flag) ? 1 : 0;
    log_info("relay: stopped");
out:
    ws_server_free(srv);
    free(session_key);
    free(service_key);
    return rc;
}
