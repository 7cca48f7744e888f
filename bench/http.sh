#!/usr/bin/env bash
# bench/http.sh — HTTP figures of roomstate-server with the anchors' harness.
#
# Migrates a fresh SQLite database in a temp dir, starts build/roomstate-server on
# 127.0.0.1:$HTTP_PORT pinned to SERVER_CPUS, runs ../shared/anchors/bench-http.sh against
# it (TARGET=c-asset-server CEILING=0: conformance pre-flight, seed ROOMS rooms with the
# 500-object document, wrk POST /rooms/:id/save and GET /rooms/:id/state), then prints the
# server's peak RSS, stops the server by pid and removes the temp dir.
# Output: the harness's `RESULT {json}` lines, plus one for the server's memory.
#
# Env: BUILD=build  ANCHORS=../shared/anchors  HTTP_PORT=18481  SERVER_CPUS=0 (empty: no
#      pinning)  SERVER_THREADS= (server default)  CACHE_MB= (server default: --cache-mb)
#      HTTP_DURATION=10  HTTP_WARMUP=2
#      ROOMS=1000  CONNS=32  THREADS=2  LOAD_CPUS=1  OUT=<jsonl to append to>
#      PERF=1: record the server with `perf record -g` during the harness and print its top
#      symbols as "# perf ..." lines (TESTS="save" or "state" to profile one path only)
#      DB=<PostgreSQL connection string>: use that database (migrated here; the password in
#      ROOMSTATE_DB_PASSWORD_FILE) instead of a temp SQLite file; it must hold no room
#      SERVERS=N (default 1; N > 1 needs DB): N servers on ports HTTP_PORT+1.. behind
#      HAProxy (round robin) on HTTP_PORT; memory lines per server
#      bench/pg-bench.py runs SQLite, PostgreSQL x1 and x2 in one go on a throw-away cluster
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
HTTP_PORT=${HTTP_PORT:-18481}
SERVER_CPUS=${SERVER_CPUS-0}
SERVER_THREADS=${SERVER_THREADS:-}
OUT=${OUT:-}
DB=${DB:-}
SERVERS=${SERVERS:-1}
if [ "$SERVERS" -gt 1 ] && [ -z "$DB" ]; then
  echo "bench/http.sh: SERVERS=$SERVERS needs a shared database (DB=postgresql://...)" >&2; exit 2
fi

for f in "$BUILD/roomstate-server" "$BUILD/roomstate-migrate" "$ANCHORS/bench-http.sh"; do
  [ -e "$f" ] || { echo "bench/http.sh: missing $f (make all; anchors at \$ANCHORS)" >&2; exit 2; }
done
command -v wrk > /dev/null || { echo "bench/http.sh: wrk is not installed (make deps)" >&2; exit 2; }
command -v node > /dev/null || { echo "bench/http.sh: node is not installed (make deps)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/roomstate-bench-http.XXXXXX)
SERVER_PID=
SERVER_PIDS=
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2> /dev/null; then
    kill -TERM "$1" 2> /dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2> /dev/null || true
    wait "$1" 2> /dev/null || true
  fi
}
stop_server() {
  for p in $SERVER_PIDS; do stop_pid "$p"; done
  SERVER_PID=
  SERVER_PIDS=
}
trap 'stop_server; rm -rf "$WORK"' EXIT INT TERM

# Another engineer's server may hold the port: then we would measure it, not ours.
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz"; then
  echo "bench/http.sh: port $HTTP_PORT is already in use; choose another with HTTP_PORT=" >&2
  exit 1
fi
DB_ARG=${DB:-$WORK/bench.db}
"$BUILD/roomstate-migrate" --db "$DB_ARG" up > "$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log" >&2; exit 1; }
pin=(); [ -n "$SERVER_CPUS" ] && pin=(taskset -c "$SERVER_CPUS")
# start_server PORT: one roomstate-server; waits until it answers
start_server() {
  local port=$1 args=(--listen "127.0.0.1:$1" --db "$DB_ARG" --log-level warn) up=0 pid
  [ -n "$SERVER_THREADS" ] && args+=(--threads "$SERVER_THREADS")
  [ -n "${CACHE_MB:-}" ] && args+=(--cache-mb "$CACHE_MB")
  # The server uses Nakama's development key, as the anchors' mint-token.js does.
  env -u NAKAMA_SESSION_KEY -u NAKAMA_SESSION_KEY_FILE "${pin[@]}" "$BUILD/roomstate-server" \
    "${args[@]}" > "$WORK/server-$port.log" 2>&1 &
  pid=$!
  SERVER_PIDS="$SERVER_PIDS $pid"
  for _ in $(seq 100); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; then up=1; break; fi
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2> /dev/null || up=0 # answered, but not by our process
  if [ "$up" != 1 ]; then
    echo "bench/http.sh: roomstate-server did not come up on port $port" >&2
    tail -5 "$WORK/server-$port.log" >&2
    exit 1
  fi
  SERVER_PID=$pid
}
if [ "$SERVERS" = 1 ]; then
  start_server "$HTTP_PORT"
else
  backends=""
  for i in $(seq "$SERVERS"); do
    start_server $((HTTP_PORT + i))
    backends="$backends    server s$i 127.0.0.1:$((HTTP_PORT + i))
"
  done
  cat > "$WORK/haproxy.cfg" << CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$HTTP_PORT
    default_backend servers
backend servers
    balance roundrobin
$backends
CFG
  haproxy -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  SERVER_PIDS="$HAPROXY_PID $SERVER_PIDS" # stopped first
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz" && break
    sleep 0.1
  done
fi
db_name=$WORK/bench.db; [ -n "$DB" ] && db_name=postgresql # never print a connection string
echo "# roomstate-server x$SERVERS pids$SERVER_PIDS port $HTTP_PORT cpus ${SERVER_CPUS:-any} threads ${SERVER_THREADS:-default} db $db_name"

PERF_PID=
if [ "${PERF:-0}" = 1 ]; then
  perf record -q -F 499 -g -p "$SERVER_PID" -o "$WORK/perf.data" > "$WORK/perf.log" 2>&1 &
  PERF_PID=$!
fi
DURATION=${HTTP_DURATION:-10} WARMUP=${HTTP_WARMUP:-2} TARGET=c-asset-server CEILING=0 OUT="$OUT" \
  "$ANCHORS/bench-http.sh" "http://127.0.0.1:$HTTP_PORT"
if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2> /dev/null || true
  for _ in $(seq 100); do kill -0 "$PERF_PID" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$PERF_PID" 2> /dev/null || true
  wait "$PERF_PID" 2> /dev/null || true
  perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2> /dev/null |
    grep -E '^ +[0-9.]+%' | head -30 | sed 's/^/# perf /' || true
  perf report -i "$WORK/perf.data" --no-children --sort dso --stdio 2> /dev/null |
    grep -E '^ +[0-9.]+%' | head -8 | sed 's/^/# perf-dso /' || true
fi

db_bytes=null
[ -z "$DB" ] && db_bytes=$(du -cb "$WORK"/bench.db* | tail -1 | cut -f1)
for pid in $SERVER_PIDS; do
  [ -n "${HAPROXY_PID:-}" ] && [ "$pid" = "$HAPROXY_PID" ] && continue
  hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2> /dev/null || echo null)
  rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2> /dev/null || echo null)
  # RssAnon: the process's own memory; VmRSS/VmHWM also count the pages of the SQLite file
  # it maps (PRAGMA mmap_size), which are the kernel's shared page cache
  anon=$(awk '/^RssAnon:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2> /dev/null || echo null)
  alive=true; kill -0 "$pid" 2> /dev/null || alive=false
  line="{\"test\":\"server_memory\",\"target\":\"c-asset-server\",\"peak_rss_mib\":${hwm:-null},\"rss_mib\":${rss:-null},\"rss_anon_mib\":${anon:-null},\"alive_after_run\":$alive,\"db_bytes\":$db_bytes}"
  echo "RESULT $line"
  [ -n "$OUT" ] && echo "$line" >> "$OUT"
done
stop_server
