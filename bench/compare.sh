#!/usr/bin/env bash
# bench/compare.sh — `make bench-compare`: roomstate and the anchors measured in one run on
# one machine, then the three ratios of BENCHMARKS.md against their targets.
#
#   1. HTTP, roomstate-server (bench/http.sh: POST save, GET state, 1,000 500-object rooms,
#      server pinned to core 0, wrk on core 1);
#   2. HTTP, the anchors (their run-http-anchors.sh: the Node asset server, and nginx
#      serving the same GET bytes as a static file), same pinning;
#   3. relay sweep, roomstate-relay (bench/relay.sh: 20-player rooms at 20 Hz, R rising until
#      two runs in a row miss p99 < 50 ms or lose messages);
#   4. the same sweep against the anchors' Node `ws` relay, with the same C load generator
#      (relay-load --raw).
# Then bench/compare.py prints every figure, the ratios, and the relay's rooms per core.
# It takes about 8 minutes.  Run it on an idle machine: it prints the load average first,
# and the ratios are only meaningful when both sides ran in the same quiet session.
#
# The anchors are not part of this repository: ANCHORS=DIR (default ../shared/anchors
# beside the checkout) must hold bench-http.sh, run-http-anchors.sh and node-ws-relay/; it is
# copied once to ANCHORS_COPY (npm installs its node_modules there, from the npm registry).
# Env: OUT=<jsonl to keep> RS_OURS="..." RS_NODE="..." (sweep steps), DURATION, WARMUP.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ANCHORS=${ANCHORS:-$HERE/../../shared/anchors}
if [ ! -f "$ANCHORS/bench-http.sh" ]; then
  echo "bench/compare.sh: no anchors at $ANCHORS (set ANCHORS=DIR)" >&2
  exit 2
fi
export ANCHORS
TMP_OUT=
if [ -z "${OUT:-}" ]; then TMP_OUT=$(mktemp /tmp/roomstate-compare.XXXXXX.jsonl); OUT=$TMP_OUT; fi
export OUT
trap '[ -n "$TMP_OUT" ] && rm -f "$TMP_OUT"' EXIT
RS_OURS=${RS_OURS:-10 20 30 40 50 60 70 80 90 100 120 150 200}
RS_NODE=${RS_NODE:-5 10 15 20 25 30 35 40 50}

echo "# make bench-compare: $(date -u +%FT%TZ) $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$HERE/.." rev-parse --short HEAD 2> /dev/null || echo unknown)"
"$HERE/http.sh"
PARTS=http "$HERE/anchors.sh" > /dev/null # its RESULT lines go to OUT; figures printed below
SUITES=sweep RS="$RS_OURS" STOP_AFTER=2 "$HERE/relay.sh" > /dev/null
PARTS=relay-c ANCHOR_RS="$RS_NODE" STOP_AFTER=2 "$HERE/anchors.sh" > /dev/null
echo "# done: $(date -u +%FT%TZ) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$HERE/compare.py" "$OUT"
