#!/usr/bin/env bash
# bench/relay.sh — relay figures of roomstate-relay with our C load generator.
#
# For every run a fresh build/roomstate-relay on 127.0.0.1:$RELAY_PORT (pinned to
# SERVER_CPUS), build/relay-load pinned to LOAD_CPUS, relay stopped by pid afterwards:
#   ladder: one room of each size in LADDER (the plan's 2, 6, 20 players) at HZ;
#   sweep:  R rooms of 20 players for each R in RS (ascending); a run "holds" when
#           p99 < P99_LIMIT_MS, no error/close/connect failure/foreign or bad message,
#           sends >= 95% of target and deliveries >= 95% of expected (the relay coalesces
#           what arrives faster than its tick, so a few superseded transforms are not lost
#           data); with --objects also every REP_OBJECT stream's last value delivered and
#           none out of order (obj_last_missing = obj_stale = 0: the contract's latest-wins;
#           obj_delivered_pct is reported, values superseded within a tick are allowed).
#           The sweep stops after STOP_AFTER consecutive runs that do not hold.
# Prints each run's `RESULT {json}` (with "suite" and "holds" added) and a last line
# "# largest R ...".
#
# NODE_RELAY=<anchors>/node-ws-relay/server.js benches the anchors' Node relay instead (started
# with PORT, relay-load with --raw, target node-ws-relay): same generator, same verdict.
#
# Env: BUILD=build  RELAY_PORT=18491  SERVER_CPUS=0  LOAD_CPUS=1 (empty: no pinning)
#      LADDER="2 6 20"  RS="1 5 10 20 40 60 80 100 150 200"  PLAYERS=20  HZ=20
#      DURATION=10  WARMUP=2  DRAIN=2  P99_LIMIT_MS=50  STOP_AFTER=2
#      TICK_HZ= (relay default)  RELAY_ARGS= (more relay flags)  LOAD_ARGS= (more
#      relay-load flags)  SUITES="ladder sweep"  OUT=<jsonl to append to>
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RELAY_PORT=${RELAY_PORT:-18491}
SERVER_CPUS=${SERVER_CPUS-0}
LOAD_CPUS=${LOAD_CPUS-1}
LADDER=${LADDER:-2 6 20}
RS=${RS:-1 5 10 20 40 60 80 100 150 200}
PLAYERS=${PLAYERS:-20}
HZ=${HZ:-20}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
DRAIN=${DRAIN:-2}
P99_LIMIT_MS=${P99_LIMIT_MS:-50}
STOP_AFTER=${STOP_AFTER:-2}
TICK_HZ=${TICK_HZ:-}
RELAY_ARGS=${RELAY_ARGS:-}
LOAD_ARGS=${LOAD_ARGS:-}
SUITES=${SUITES:-ladder sweep}
OUT=${OUT:-}
NODE_RELAY=${NODE_RELAY:-}
PY=/usr/bin/python3
TARGET=roomstate-relay
TICK_LABEL=${TICK_HZ:-default}
[ -n "$NODE_RELAY" ] && TARGET=node-ws-relay && LOAD_ARGS="--raw $LOAD_ARGS" && TICK_LABEL=none

for f in "$BUILD/relay-load" ${NODE_RELAY:-"$BUILD/roomstate-relay"}; do
  [ -e "$f" ] || { echo "bench/relay.sh: missing $f (make all)" >&2; exit 2; }
done
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" 2> /dev/null || true

WORK=$(mktemp -d /tmp/roomstate-bench-relay.XXXXXX)
RELAY_PID=
stop_relay() {
  if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2> /dev/null; then
    kill -TERM "$RELAY_PID" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$RELAY_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$RELAY_PID" 2> /dev/null || true
  fi
  if [ -n "$RELAY_PID" ]; then wait "$RELAY_PID" 2> /dev/null || true; fi
  RELAY_PID=
}
trap 'stop_relay; rm -rf "$WORK"' EXIT INT TERM

start_relay() {
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$RELAY_PORT/healthz"; then
    echo "bench/relay.sh: port $RELAY_PORT is already in use; choose another with RELAY_PORT=" >&2
    return 1
  fi
  local args=(--listen "127.0.0.1:$RELAY_PORT" --log-level warn)
  [ -n "$TICK_HZ" ] && args+=(--tick-hz "$TICK_HZ")
  local pin=(); [ -n "$SERVER_CPUS" ] && pin=(taskset -c "$SERVER_CPUS")
  if [ -n "$NODE_RELAY" ]; then
    PORT=$RELAY_PORT "${pin[@]}" node "$NODE_RELAY" > "$WORK/relay.log" 2>&1 &
  else
    # shellcheck disable=SC2086 # RELAY_ARGS is a list of flags
    env -u NAKAMA_SESSION_KEY -u NAKAMA_SESSION_KEY_FILE -u ROOMSTATE_SERVER_URL \
      "${pin[@]}" "$BUILD/roomstate-relay" "${args[@]}" $RELAY_ARGS > "$WORK/relay.log" 2>&1 &
  fi
  RELAY_PID=$!
  for _ in $(seq 100); do
    kill -0 "$RELAY_PID" 2> /dev/null || break
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$RELAY_PORT/healthz" && kill -0 "$RELAY_PID" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "bench/relay.sh: $TARGET did not come up on port $RELAY_PORT" >&2
  tail -5 "$WORK/relay.log" >&2
  return 1
}

# run SUITE ROOMS PLAYERS -> prints the RESULT line (suite, holds added); returns 0 when it holds
run_one() {
  local suite=$1 rooms=$2 players=$3 line pin=()
  start_relay || return 2
  [ -n "$LOAD_CPUS" ] && pin=(taskset -c "$LOAD_CPUS")
  # shellcheck disable=SC2086 # LOAD_ARGS is a list of flags
  line=$("${pin[@]}" "$BUILD/relay-load" --url "ws://127.0.0.1:$RELAY_PORT" --rooms "$rooms" \
    --players "$players" --hz "$HZ" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
    --relay-pid "$RELAY_PID" --target "$TARGET" $LOAD_ARGS 2> "$WORK/load.log" |
    grep '^RESULT ' || true)
  local alive=1; kill -0 "$RELAY_PID" 2> /dev/null || alive=0
  stop_relay
  if [ -z "$line" ]; then
    local why; why=$(tail -1 "$WORK/load.log" | tr -dc '[:alnum:] :/._-')
    line="RESULT {\"test\":\"relay\",\"target\":\"$TARGET\",\"rooms\":$rooms,\"clients_per_room\":$players,\"error\":\"relay-load gave no result: $why\"}"
  fi
  line=$($PY - "$suite" "$P99_LIMIT_MS" "$alive" "$TICK_LABEL" "${line#RESULT }" << 'EOF'
import json, sys
suite, limit, alive, tick, raw = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
r = json.loads(raw)
r["suite"] = suite
r["relay_tick_hz"] = tick
r["relay_alive_after_run"] = alive
exp = r.get("expected_deliveries") or 0
ok = (alive and not r.get("error") and r.get("p99_ms") is not None and r["p99_ms"] < limit
      and not r.get("closed_early") and not r.get("connect_errors") and not r.get("foreign")
      and not r.get("bad_msgs") and not r.get("echoes")
      and r.get("sends_per_s", 0) >= 0.95 * r.get("target_sends_per_s", 1)
      and exp > 0 and r.get("delivered", 0) >= 0.95 * exp
      and not r.get("obj_last_missing") and not r.get("obj_stale"))
r["holds"] = ok
print(json.dumps(r, separators=(",", ":")))
EOF
)
  echo "RESULT $line"
  [ -n "$OUT" ] && echo "$line" >> "$OUT"
  case "$line" in *'"holds":true'*) return 0 ;; *) return 1 ;; esac
}

echo "# bench/relay: target=$TARGET suites='$SUITES' ladder='$LADDER' rs='$RS' hz=$HZ tick=$TICK_LABEL ${WARMUP}+${DURATION}+${DRAIN}s server_cpus=${SERVER_CPUS:-any} load_cpus=${LOAD_CPUS:-any} $(date -u +%FT%TZ) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ " $SUITES " == *" ladder "* ]]; then
  for p in $LADDER; do run_one ladder 1 "$p" || true; sleep 1; done
fi
if [[ " $SUITES " == *" sweep "* ]]; then
  best=none; misses=0
  for r in $RS; do
    if run_one sweep "$r" "$PLAYERS"; then best=$r; misses=0; else misses=$((misses + 1)); fi
    [ "$misses" -ge "$STOP_AFTER" ] && break
    sleep 1
  done
  echo "# $TARGET: largest R (of: $RS) of $PLAYERS-player rooms at $HZ Hz holding p99 < ${P99_LIMIT_MS} ms (tick $TICK_LABEL): $best"
fi
