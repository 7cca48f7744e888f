#!/usr/bin/env bash
# bench/ab-get.sh — interleaved A/B runs of GET /rooms/:id/state (identity) for several
# builds of roomstate-server on ONE seeded SQLite database, with the nginx ceiling of the
# anchors measured in the same rounds.
#
#   bench/ab-get.sh [ANCHORS_DIR] BUILD_DIR...     e.g. bench/ab-get.sh /tmp/base build
#
# Seeds ROOMS rooms once (500-object payload of the anchors, seed 42) with the first build,
# then ROUNDS times: for each build, a fresh server pinned to SERVER_CPUS on the same file,
# WARMUP s of wrk then DURATION s measured (the anchors' lua/asset.lua, wrk on LOAD_CPUS);
# then nginx (the anchors' nginx.conf, 1 worker on SERVER_CPUS) serving the same bytes.
# Output: one "AB round=N target=... rps=... p50_ms=... p99_ms=... cpu_us_per_req=..." line per run
# (the last: the server's utime+stime per request over the window, less sensitive to other
# load than req/s), then
# the median req/s per target and its ratio to nginx's median.
# Env: ROUNDS=3 DURATION=8 WARMUP=2 ROOMS=1000 CONNS=32 THREADS=2 SERVER_CPUS=0 LOAD_CPUS=1
#      PORT=18591 NGINX_PORT=18599 CEILING=1 SERVER_ARGS= (extra server options)
#      PERF=<dir>: perf record -g each server's measured window into <dir>/<n>.data
# Needs wrk, node (the anchors' payload.js and mint-token.js) and nginx (nginx-light).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=$ROOT/../shared/anchors
if [ $# -gt 0 ] && [ -e "$1/bench-http.sh" ]; then ANCHORS=$1; shift; fi
[ $# -gt 0 ] || { echo "usage: bench/ab-get.sh [ANCHORS_DIR] BUILD_DIR..." >&2; exit 2; }
for b in "$@"; do [ -x "$b/roomstate-server" ] || { echo "no $b/roomstate-server" >&2; exit 2; }; done
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} WARMUP=${WARMUP:-2} ROOMS=${ROOMS:-1000}
CONNS=${CONNS:-32} THREADS=${THREADS:-2} SERVER_CPUS=${SERVER_CPUS:-0} LOAD_CPUS=${LOAD_CPUS:-1}
PORT=${PORT:-18591} NGINX_PORT=${NGINX_PORT:-18599} CEILING=${CEILING:-1}
read -r -a EXTRA <<< "${SERVER_ARGS:-}"

WORK=$(mktemp -d /tmp/roomstate-ab-get.XXXXXX)
PID=
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2> /dev/null; then
    kill -TERM "$PID" 2> /dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2> /dev/null || true
    wait "$PID" 2> /dev/null || true
  fi
  PID=
}
trap 'stop; rm -rf "$WORK"' EXIT INT TERM
up() { # url: bounded wait until it answers
  for _ in $(seq 100); do curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
  return 1
}
start() { # build
  env -u NAKAMA_SESSION_KEY -u NAKAMA_SESSION_KEY_FILE taskset -c "$SERVER_CPUS" \
    "$1/roomstate-server" --listen "127.0.0.1:$PORT" --db "$WORK/ab.db" --log-level warn \
    "${EXTRA[@]}" > "$WORK/server.log" 2>&1 &
  PID=$!
  up "http://127.0.0.1:$PORT/healthz" || { tail -5 "$WORK/server.log" >&2; exit 1; }
}
wrk_run() { # target url seconds -> RESULT json on stdout
  MODE=state TEST=get_state TARGET=$1 TOKEN=$TOKEN ROOMS=$ROOMS \
    taskset -c "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"$3s" --timeout 10s \
    -s "$ANCHORS/lua/asset.lua" "$2" 2>&1 | sed -n 's/^RESULT //p' | tail -1
}

"$1/roomstate-migrate" --db "$WORK/ab.db" up > /dev/null
node "$ANCHORS/payload.js" --objects 500 --seed 42 --out "$WORK/room.json" 2> /dev/null
TOKEN=$(node "$ANCHORS/mint-token.js")
start "$1"
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$WORK/room.json" --max-time 300 -o /dev/null -w '%{http_code}\n' \
  "http://127.0.0.1:$PORT/rooms/bench-[0-$((ROOMS - 1))]/save" | sort | uniq -c | sed 's/^/# seeded: /'
NGX=$WORK/nginx
mkdir -p "$NGX/www" "$NGX/tmp"
chmod 755 "$WORK" "$NGX" "$NGX/www"
curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" -o "$NGX/www/state.json" \
  "http://127.0.0.1:$PORT/rooms/bench-0/state"
chmod 644 "$NGX/www/state.json"
stop
sed -e "s|@PREFIX@|$NGX|g" -e "s|@ROOT@|$NGX/www|g" -e "s|@PORT@|$NGINX_PORT|g" \
  -e "s|@WORKERS@|1|g" "$ANCHORS/nginx.conf" > "$NGX/nginx.conf"
echo "# body $(stat -c %s "$NGX/www/state.json") bytes, loadavg $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<< "$1"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, clock ticks
emit() { # round target json [cpu ticks]: cpu_us_per_req = the server's CPU time per request
  local us=""
  [ -n "${4:-}" ] && us=" cpu_us_per_req=$(awk -v t="$4" -v hz="$(getconf CLK_TCK)" -v n="$(field "$3" requests)" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }')"
  echo "AB round=$1 target=$2 rps=$(field "$3" rps) p50_ms=$(field "$3" p50_ms) p99_ms=$(field "$3" p99_ms)$us load=$(cut -d' ' -f1 /proc/loadavg)"
  echo "$2 $(field "$3" rps)" >> "$WORK/rps"
}
n=0
for round in $(seq "$ROUNDS"); do
  for b in "$@"; do
    start "$b"
    wrk_run warmup "http://127.0.0.1:$PORT" "$WARMUP" > /dev/null
    PERF_PID=
    if [ -n "${PERF:-}" ]; then
      n=$((n + 1))
      perf record -q -F 999 -g -p "$PID" -o "$PERF/$n-$(basename "$b").data" > /dev/null 2>&1 &
      PERF_PID=$!
    fi
    t0=$(cpu_ticks "$PID")
    json=$(wrk_run "$b" "http://127.0.0.1:$PORT" "$DURATION")
    t1=$(cpu_ticks "$PID")
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" 2> /dev/null || true; fi
    emit "$round" "$b" "$json" "$((t1 - t0))"
    echo "#   memory: $(grep -E '^(VmHWM|RssAnon|RssFile):' "/proc/$PID/status" | tr -s ' \n' ' ')"
    stop
  done
  if [ "$CEILING" = 1 ]; then
    taskset -c "$SERVER_CPUS" nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" &
    PID=$!
    up "http://127.0.0.1:$NGINX_PORT/rooms/bench-0/state" || { echo "nginx did not start" >&2; exit 1; }
    wrk_run warmup "http://127.0.0.1:$NGINX_PORT" "$WARMUP" > /dev/null
    emit "$round" nginx "$(wrk_run nginx "http://127.0.0.1:$NGINX_PORT" "$DURATION")"
    kill -QUIT "$PID"; wait "$PID" 2> /dev/null || true
    PID=
  fi
done
# medians
awk '{ v[$1] = v[$1] " " $2 } END { for (t in v) print t, v[t] }' "$WORK/rps" | while read -r t vals; do
  med=$(tr ' ' '\n' <<< "$vals" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
  echo "$t $med"
done > "$WORK/med"
ng=$(awk '$1 == "nginx" { print $2 }' "$WORK/med")
while read -r t med; do
  if [ -n "$ng" ]; then
    echo "MEDIAN target=$t rps=$med ratio_to_nginx=$(awk -v a="$med" -v b="$ng" 'BEGIN { printf "%.2f", a / b }')"
  else
    echo "MEDIAN target=$t rps=$med"
  fi
done < "$WORK/med"
