#!/bin/sh
# docker-entrypoint.sh — the images' entry point (installed as roomstate-entrypoint).
#
#   serve [SERVER FLAGS]     (default) roomstate-migrate up, then exec roomstate-server
#   migrate [up|status|verify|backup FILE|restore FILE]   roomstate-migrate only
#   up | status | verify                the same as `migrate up|status|verify`
#   relay [RELAY FLAGS]                 exec roomstate-relay
#   token [TOKEN FLAGS]                 exec roomstate-token (development helper)
#   --flag ...                          same as `serve --flag ...`
#   anything else                       exec'd as is (e.g. `sh`)
#
# Configuration is by environment variables (ROOMSTATE_LISTEN, ROOMSTATE_DB, ...; see the
# README).  Secrets come from files: when NAKAMA_SESSION_KEY, ROOMSTATE_SERVICE_KEY or
# LIVEKIT_API_SECRET and its *_FILE are both unset and a Docker/Compose secret of the same
# name in lower case exists under /run/secrets/, *_FILE is pointed at it.
# ROOMSTATE_MIGRATE_ON_START=0 skips the migration before `serve` (when a separate migrate
# job runs it at deploy, as in docker-compose.yml).
set -eu

secret_default() { # VAR secret-name
    eval "v=\${$1:-} f=\${$1_FILE:-}"
    if [ -z "$v" ] && [ -z "$f" ] && [ -r "/run/secrets/$2" ]; then
        export "$1_FILE=/run/secrets/$2"
    fi
}
secret_default NAKAMA_SESSION_KEY nakama_session_key
secret_default ROOMSTATE_SERVICE_KEY roomstate_service_key
secret_default LIVEKIT_API_SECRET livekit_api_secret

check_db_dir() {
    # a PostgreSQL connection string (URI or key=value, as roomstate reads ROOMSTATE_DB) has
    # no directory to check
    case "${ROOMSTATE_DB:-}" in postgres://* | postgresql://*) return 0 ;; esac
    if expr "${ROOMSTATE_DB:-}" : ' *[a-z_][a-z_]* *=' >/dev/null; then return 0; fi
    dir=$(dirname "${ROOMSTATE_DB:-/data/roomstate.db}")
    if [ ! -d "$dir" ] || [ ! -w "$dir" ]; then
        echo "roomstate-entrypoint: $dir is not a directory writable by uid $(id -u);" \
             "mount a volume there (a named volume works as is; a host directory must be" \
             "owned by uid $(id -u): chown $(id -u):$(id -g) DIR)" >&2
        exit 1
    fi
}

cmd=${1:-serve}
case "$cmd" in
-*) cmd=serve ;;
up | status | verify) cmd=migrate ;; # the migrate image: `docker run … roomstate-migrate status`
*) shift ;;
esac

case "$cmd" in
serve)
    check_db_dir
    if [ "${ROOMSTATE_MIGRATE_ON_START:-1}" != 0 ]; then
        roomstate-migrate up
    fi
    exec roomstate-server "$@"
    ;;
migrate)
    check_db_dir
    [ $# -gt 0 ] || set -- up
    exec roomstate-migrate "$@"
    ;;
relay)
    exec roomstate-relay "$@"
    ;;
token)
    exec roomstate-token "$@"
    ;;
*)
    exec "$cmd" "$@"
    ;;
esac
