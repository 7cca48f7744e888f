/* main.c — roomstate-server: configuration, start-up checks (keys, migrated database),
 * the HTTP daemon, and graceful shutdown on SIGTERM/SIGINT. */
#include "common/auth.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "server/cache.h"
#include "server/cachesize.h"
#include "server/connlimit.h"
#include "server/dbpool.h"
#include "server/http.h"
#include "store/dbfile.h"
#include "store/store.h"
#include "store/store_pg.h"
#include "store/store_watch.h"

#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct server_config {
    const char *listen;
    const char *db;
    const char *nakama_key_file;
    const char *service_key_file;
    bool require_key;
    long long max_body;
    long long max_objects;
    long long max_depth;
    long long history;
    long long threads;
    long long leeway;
    long long max_token_lifetime;
    const char *cache_mb;
    long long save_workers;
    long long db_pool;
    long long db_lock_wait_ms;
    long long max_connections;
    long long max_connections_per_ip;
    long long header_timeout;
    long long request_timeout;
    long long max_discard;
    const char *log_level;
    const char *livekit_key;
    const char *livekit_secret_file;
    const char *livekit_url;
    long long livekit_ttl;
    long long checkpoint_ttl_s;
    long long checkpoint_max_bytes;
};

#define OPT(f, e, t, d, lo, hi, field, h)                                                          \
    {                                                                                              \
        f, e, t, d, lo, hi, offsetof(struct server_config, field), h                               \
    }
static const struct config_opt opts[] = {
    OPT("--listen", "ROOMSTATE_LISTEN", CONFIG_STRING, "127.0.0.1:8080", 0, 0, listen,
        "HOST:PORT to listen on"),
    OPT("--db", "ROOMSTATE_DB", CONFIG_STRING, "./data/roomstate.db", 0, 0, db,
        "SQLite database file, or PostgreSQL: postgresql://USER@HOST:PORT/DB or libpq key=value "
        "pairs, password in the file named by env ROOMSTATE_DB_PASSWORD_FILE or libpq's "
        "PGPASSFILE (migrate it first: roomstate-migrate --db ... up)"),
    OPT("--db-pool", "ROOMSTATE_DB_POOL", CONFIG_INT, "8", 1, 1000, db_pool,
        "PostgreSQL: most connections this server opens (shared by all threads; SQLite uses "
        "one per thread)"),
    OPT("--nakama-key-file", "NAKAMA_SESSION_KEY_FILE", CONFIG_STRING, NULL, 0, 0, nakama_key_file,
        "file holding Nakama's session.encryption_key (or the key itself in env "
        "NAKAMA_SESSION_KEY; default: Nakama's dev key, with a warning)"),
    OPT("--service-key-file", "ROOMSTATE_SERVICE_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
        service_key_file,
        "file holding the key of service tokens (or the key itself in env "
        "ROOMSTATE_SERVICE_KEY; none: service tokens are refused)"),
    OPT("--require-key", "ROOMSTATE_REQUIRE_KEY", CONFIG_BOOL, "0", 0, 0, require_key,
        "refuse to start without a configured Nakama key (production)"),
    OPT("--max-body", "ROOMSTATE_MAX_BODY", CONFIG_INT, "8388608", 1024, 1073741824LL, max_body,
        "largest request body in bytes (413 above)"),
    OPT("--max-discard", "ROOMSTATE_MAX_DISCARD", CONFIG_INT, "268435456", 0, 1LL << 40,
        max_discard,
        "bytes of an oversized body read and dropped so that its sender gets the 413 (a "
        "chunked body's size is known only at its end); past this the connection is closed "
        "without an answer (0: at once)"),
    OPT("--max-connections", "ROOMSTATE_MAX_CONNECTIONS", CONFIG_INT, "4096", 1, 262144,
        max_connections,
        "most open HTTP connections; more are closed at accept (at most the open-files limit "
        "less a reserve)"),
    OPT("--max-connections-per-ip", "ROOMSTATE_MAX_CONNECTIONS_PER_IP", CONFIG_INT, "256", 0,
        262144, max_connections_per_ip,
        "most open HTTP connections from one client address (IPv6: one /64); more are closed "
        "at accept (0: no such limit; behind a proxy every client has the proxy's address)"),
    OPT("--header-timeout", "ROOMSTATE_HEADER_TIMEOUT", CONFIG_INT, "10", 0, 3600, header_timeout,
        "seconds a connection has to deliver a whole request head, from its accept or from "
        "the previous response (a kept-alive connection idle this long is closed); not "
        "restarted by each byte (0: no deadline)"),
    OPT("--request-timeout", "ROOMSTATE_REQUEST_TIMEOUT", CONFIG_INT, "60", 0, 86400,
        request_timeout,
        "seconds a connection has to deliver a whole request, head and body, counted as "
        "--header-timeout; not restarted by each byte (0: no deadline; not below "
        "--header-timeout)"),
    OPT("--max-objects", "ROOMSTATE_MAX_OBJECTS", CONFIG_INT, "10000", 1, 10000000, max_objects,
        "most objects in a room document (422 above)"),
    OPT("--max-depth", "ROOMSTATE_MAX_DEPTH", CONFIG_INT, "32", 1, 1000, max_depth,
        "deepest JSON nesting of a property value (422 above)"),
    OPT("--history", "ROOMSTATE_HISTORY", CONFIG_INT, "10", 1, 100000, history,
        "versions kept per room"),
    OPT("--threads", "ROOMSTATE_THREADS", CONFIG_INT, "0", 0, 256, threads,
        "worker threads (0: the number of cores this process may run on; on PostgreSQL at "
        "least --db-pool)"),
    OPT("--leeway", "ROOMSTATE_LEEWAY", CONFIG_INT, "0", 0, 300, leeway,
        "clock leeway in seconds for the token's exp, nbf and iat"),
    OPT("--max-token-lifetime", "ROOMSTATE_MAX_TOKEN_LIFETIME", CONFIG_INT,
        AUTH_MAX_LIFETIME_DEFAULT, 60, 31536000, max_token_lifetime,
        "longest session token lifetime in seconds (exp - iat, or exp - now without iat)"),
    OPT("--cache-mb", "ROOMSTATE_CACHE_MB", CONFIG_STRING, "auto", 0, 0, cache_mb,
        "MiB of GET /state bodies kept in memory, 0 to 65536 (0: no cache), or auto: 1/16 of "
        "the memory available at start (cgroup memory.max counted), 4 to 256"),
    OPT("--save-workers", "ROOMSTATE_SAVE_WORKERS", CONFIG_INT, "16", 0, 1024, save_workers,
        "threads running durable saves, so that concurrent saves share one commit (0: "
        "saves run on the HTTP threads)"),
    OPT("--db-lock-wait-ms", "ROOMSTATE_DB_LOCK_WAIT_MS", CONFIG_INT, "2000", 0, 60000,
        db_lock_wait_ms,
        "longest a save waits for the database's write lock (another process holding it) or "
        "for a save worker, counted from its arrival; then 503 with Retry-After"),
    OPT("--livekit-api-key", "LIVEKIT_API_KEY", CONFIG_STRING, NULL, 0, 0, livekit_key,
        "LiveKit API key (issuer of POST /livekit/token tokens; none: 503)"),
    OPT("--livekit-secret-file", "LIVEKIT_API_SECRET_FILE", CONFIG_STRING, NULL, 0, 0,
        livekit_secret_file,
        "file holding the LiveKit API secret (or the secret itself in env LIVEKIT_API_SECRET)"),
    OPT("--livekit-url", "LIVEKIT_URL", CONFIG_STRING, NULL, 0, 0, livekit_url,
        "LiveKit server URL handed to clients, e.g. wss://livekit.example.com"),
    OPT("--livekit-ttl", "LIVEKIT_TOKEN_TTL", CONFIG_INT, "3600", 60, 86400, livekit_ttl,
        "lifetime of issued LiveKit tokens in seconds"),
    OPT("--checkpoint-ttl-s", "ROOMSTATE_CHECKPOINT_TTL_S", CONFIG_INT, "600", 1, 604800,
        checkpoint_ttl_s,
        "seconds a relay's live checkpoint (PUT /rooms/{id}/checkpoint) is kept after its write"),
    OPT("--checkpoint-max-bytes", "ROOMSTATE_CHECKPOINT_MAX_BYTES", CONFIG_INT, "4194304", 1024,
        1073741824LL, checkpoint_max_bytes, "largest live checkpoint body in bytes (413 above)"),
    OPT("--log-level", "ROOMSTATE_LOG_LEVEL", CONFIG_STRING, "info", 0, 0, log_level,
        "debug, info, warn or error"),
};
#undef OPT

static const char usage[] =
    "usage: roomstate-server [options]\n"
    "The room-state HTTP service (docs/http-api.md).  Every option is also an environment\n"
    "variable (the flag wins).  Secrets: NAKAMA_SESSION_KEY / ROOMSTATE_SERVICE_KEY in the\n"
    "environment, or files named by the *_FILE options.";

/* Checks the database once before serving: it must exist and be migrated.  Messages name
 * a PostgreSQL database by host, port, database and user (never the connection string,
 * which may hold a password). */
static int check_database(const char *db)
{
    struct store *s = NULL;
    char err[768] = "", name[512];
    enum store_status st = store_open(db, &s, err, sizeof err);
    if (st == STORE_OK) {
        store_close(s);
        return 0;
    }
    if (store_backend_of(db) == STORE_BACKEND_POSTGRES) {
        store_pg_describe(db, name, sizeof name);
        log_error("database %s: %s", name, err[0] ? err : store_status_name(st));
        return -1;
    }
    if (st == STORE_SCHEMA_NOT_CURRENT)
        log_error("database %s is not migrated to this version (%s): run "
                  "`roomstate-migrate --db %s up` first",
                  db, err, db);
    else /* not a missing schema: say what is wrong, not "migrate it" */
        log_error("cannot use database %s: %s", db, err[0] ? err : store_status_name(st));
    return -1;
}

/* Connection limits: the open-files limit is raised to its hard limit, and must leave room
 * for --max-connections beside the descriptors the server needs anyway (database files,
 * pools, the daemon's own), or accept() would fail and the library stop accepting. */
static int limit_connections(const struct server_config *cfg, struct server *srv)
{
    uint64_t nofile = connlimit_raise_nofile();
    /* each HTTP thread and save worker holds its own SQLite handle (database, WAL, shared
     * memory files); PostgreSQL: one socket per pooled connection */
    uint64_t reserve =
        64 + 4 * ((uint64_t)srv->threads + srv->save_workers) + (uint64_t)cfg->db_pool;
    uint64_t most = nofile > reserve ? nofile - reserve : 0;
    srv->max_connections = (unsigned)cfg->max_connections;
    if (nofile && srv->max_connections > most) {
        if (most < 16) {
            log_error("the open-files limit (%llu) leaves no room for connections: raise it "
                      "(ulimit -n, LimitNOFILE=)",
                      (unsigned long long)nofile);
            return -1;
        }
        log_warn("--max-connections %u lowered to %llu: the open-files limit is %llu (raise it "
                 "with ulimit -n or LimitNOFILE=)",
                 srv->max_connections, (unsigned long long)most, (unsigned long long)nofile);
        srv->max_connections = (unsigned)most;
    }
    srv->max_connections_per_ip = (unsigned)cfg->max_connections_per_ip;
    if (cfg->request_timeout && cfg->request_timeout < cfg->header_timeout) {
        log_error("--request-timeout (%lld s) is below --header-timeout (%lld s): the whole "
                  "request cannot arrive before its head",
                  cfg->request_timeout, cfg->header_timeout);
        return -1;
    }
    srv->header_timeout_ms = (unsigned)cfg->header_timeout * 1000u;
    srv->request_timeout_ms = (unsigned)cfg->request_timeout * 1000u;
    srv->max_discard_bytes = (size_t)cfg->max_discard;
    return 0;
}

int main(int argc, char **argv)
{
    struct server_config cfg = {0};
    struct server srv = {0};
    char *session_key = NULL, *service_key = NULL, *livekit_secret = NULL;
    const char *lk_err = NULL;
    char host[256];
    int port = 0, rc = 1, sig = 0, db_lock_fd = -1;
    sigset_t sigs;

    int ex = config_exit_code(
        config_parse(opts, sizeof opts / sizeof opts[0], &cfg, argc, argv, usage, NULL, 0, NULL));
    if (ex >= 0)
        return ex;
    if (keys_set_log_level(cfg.log_level) != 0)
        return 2;
    if (config_split_hostport(cfg.listen, host, sizeof host, &port) != 0) {
        fprintf(stderr, "--listen: '%s' is not HOST:PORT\n", cfg.listen);
        return 2;
    }
    long long cache_mib;
    bool cache_auto;
    if (!cachesize_parse_option(cfg.cache_mb, &cache_mib, &cache_auto)) {
        fprintf(stderr, "--cache-mb: '%s' is neither auto nor a whole number from 0 to 65536\n",
                cfg.cache_mb);
        return 2;
    }
    struct keys_source ks = {.session_file = cfg.nakama_key_file,
                             .session_value = getenv("NAKAMA_SESSION_KEY"),
                             .require_session = cfg.require_key,
                             .service_file = cfg.service_key_file,
                             .service_value = getenv("ROOMSTATE_SERVICE_KEY")};
    if (keys_load(&ks, &session_key, &service_key) != 0)
        goto out;
    livekit_secret =
        config_read_secret(cfg.livekit_secret_file, getenv("LIVEKIT_API_SECRET"), &lk_err);
    if (!livekit_secret && lk_err) {
        log_error("LiveKit secret: %s", lk_err);
        goto out;
    }
    /* held until exit: `roomstate-migrate restore` refuses to replace a database in use */
    char lock_err[512] = "";
    enum dblock_result lr = DBLOCK_MISSING; /* PostgreSQL: no file to lock */
    if (store_backend_of(cfg.db) == STORE_BACKEND_SQLITE)
        lr = dblock_take(cfg.db, 0, &db_lock_fd, lock_err, sizeof lock_err);
    if (lr == DBLOCK_HELD) {
        log_error("%s: start the server once the restore has finished", lock_err);
        goto out;
    }
    if (check_database(cfg.db) != 0)
        goto out;
    if (lr == DBLOCK_ERROR) /* DBLOCK_MISSING: --db is not a file (another backend) */
        log_warn("%s: `roomstate-migrate restore` will not see that this server runs", lock_err);

    /* Request bodies and documents (100-200 KB each) are malloc'd and freed on every
     * request.  glibc's defaults give blocks of that size back to the kernel on free
     * (munmap, or madvise when trimming a thread arena) and fault them in again on the next
     * request: a third of a GET miss's time (bench/PERF-HTTP.md).  Keep them instead;
     * blocks above 4 MiB (rare, huge bodies) are still mapped and returned. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);

    /* the cores this process may run on (taskset/cpuset), not every core of the machine */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0)
        cores = CPU_COUNT(&cpus);
    srv.db_path = cfg.db;
    srv.keys.session_key = session_key;
    srv.keys.session_key_len = strlen(session_key);
    srv.keys.service_key = service_key;
    srv.keys.service_key_len = service_key ? strlen(service_key) : 0;
    srv.keys.leeway_s = cfg.leeway;
    srv.keys.max_lifetime_s = cfg.max_token_lifetime;
    srv.limits.max_objects = (size_t)cfg.max_objects;
    srv.limits.max_value_depth = (size_t)cfg.max_depth;
    srv.max_body_bytes = (size_t)cfg.max_body;
    srv.history_keep = cfg.history;
    srv.checkpoint_ttl_s = cfg.checkpoint_ttl_s;
    srv.checkpoint_max_bytes = (size_t)cfg.checkpoint_max_bytes;
    srv.threads = cfg.threads > 0 ? (unsigned)cfg.threads : (cores > 0 ? (unsigned)cores : 1);
    /* on PostgreSQL a request waits for network round trips: by default as many HTTP threads
     * as connections, so the pool can be busy while the cores are not */
    if (cfg.threads == 0 && store_backend_of(cfg.db) == STORE_BACKEND_POSTGRES &&
        srv.threads < (unsigned)cfg.db_pool)
        srv.threads = (unsigned)cfg.db_pool;
    srv.save_workers = (unsigned)cfg.save_workers;
    srv.db_lock_wait_ms = (int)cfg.db_lock_wait_ms;
    if (limit_connections(&cfg, &srv) != 0)
        goto out;
    char cache_why[256] = "set by --cache-mb";
    if (cache_auto)
        cache_mib = cachesize_auto_here(cache_why, sizeof cache_why);
    log_info("state cache: %lld MiB (%s)", cache_mib, cache_why);
    srv.cache = cache_new((size_t)cache_mib * 1024 * 1024);
    srv.livekit.api_key = cfg.livekit_key;
    srv.livekit.api_secret = livekit_secret;
    srv.livekit.url = cfg.livekit_url;
    srv.livekit.ttl_s = cfg.livekit_ttl;
    if (!livekit_configured(&srv.livekit))
        log_info("LiveKit not configured: POST /livekit/token answers 503");
    struct store_options sopts;
    store_options_default(&sopts);
    sopts.lock_wait_ms = (int)cfg.db_lock_wait_ms;
    dbpool_init(cfg.db, (unsigned)cfg.db_pool, &sopts);
    if (srv.cache) { /* a cached GET then asks the database only after a commit */
        char why[512] = "";
        if (store_watch_open(cfg.db, &srv.watch, why, sizeof why) != STORE_OK || !srv.watch) {
            if (store_backend_of(cfg.db) == STORE_BACKEND_SQLITE)
                log_warn("state cache: every GET reads the current version from the database "
                         "(no commit watch: %s)",
                         why);
        }
    }

    /* Every thread (the daemon's too) inherits this mask; only sigwait below sees them. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (http_start(&srv, host, port) != 0)
        goto out;
    char dbname[512];
    if (store_backend_of(cfg.db) == STORE_BACKEND_POSTGRES)
        store_pg_describe(cfg.db, dbname, sizeof dbname);
    else
        snprintf(dbname, sizeof dbname, "%s", cfg.db);
    log_info("roomstate-server listening on %s (%u threads, db %s, history %lld, max body %lld)",
             cfg.listen, srv.threads, dbname, cfg.history, cfg.max_body);
    log_info("connections: at most %u, %u per IP (0: no limit); request head within %lld s, "
             "whole request within %lld s (0: no deadline)",
             srv.max_connections, srv.max_connections_per_ip, cfg.header_timeout,
             cfg.request_timeout);
    if (sigwait(&sigs, &sig) != 0)
        sig = SIGTERM;
    log_info("signal %d: finishing requests in flight, then stopping", sig);
    http_stop(&srv, 10000);
    rc = 0;
out:
    dbpool_close_all();
    store_watch_close(srv.watch);
    dblock_release(db_lock_fd); /* after every SQLite connection of this process is closed */
    cache_free(srv.cache);
    free(session_key);
    free(service_key);
    free(livekit_secret);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
