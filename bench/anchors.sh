#!/usr/bin/env bash
# bench/anchors.sh — the anchors (../shared/anchors) measured in this session, so that
# BENCHMARKS.md can give ratios from one run on one machine.  It takes several minutes.
#
# The anchors' folder is read-only: it is copied to ANCHORS_COPY once, where `npm ci` (npm
# registry) installs its node_modules.  Then, each bounded and stopped by pid by its script:
#   1. run-http-anchors.sh: Node asset server (+ nginx ceiling when nginx is installed);
#   2. bench-relay.sh: Node ws relay with the anchors' relay-load.js, for ANCHOR_RS;
#   3. bench/relay.sh NODE_RELAY=...: the same Node relay with our relay-load --raw, for
#      ANCHOR_RS (same generator as our relay's figures).
# Output: RESULT lines (and OUT jsonl when set), then the FIGURE summary.
#
# Env: ANCHORS=../shared/anchors  ANCHORS_COPY=/tmp/roomstate-anchors  ANCHOR_RS="5 10 15 20 25"
#      PARTS="http relay-js relay-c"  DURATION=10 WARMUP=2 DRAIN=2 (relay)  OUT=<jsonl>
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
ANCHORS_COPY=${ANCHORS_COPY:-/tmp/roomstate-anchors}
ANCHOR_RS=${ANCHOR_RS:-5 10 15 20 25}
PARTS=${PARTS:-http relay-js relay-c}
TMP_OUT=
if [ -z "${OUT:-}" ]; then TMP_OUT=$(mktemp /tmp/roomstate-anchors.XXXXXX.jsonl); OUT=$TMP_OUT; fi
export OUT
trap '[ -n "$TMP_OUT" ] && rm -f "$TMP_OUT"' EXIT

[ -f "$ANCHORS/bench-http.sh" ] || { echo "bench/anchors.sh: no anchors at $ANCHORS" >&2; exit 2; }
if [ ! -f "$ANCHORS_COPY/bench-http.sh" ]; then
  rm -rf "$ANCHORS_COPY"
  cp -r "$ANCHORS" "$ANCHORS_COPY"
  chmod -R u+w "$ANCHORS_COPY"
fi
for d in "$ANCHORS_COPY" "$ANCHORS_COPY/node-ws-relay" "$ANCHORS_COPY/node-asset-server"; do
  [ -d "$d/node_modules" ] || (cd "$d" && npm ci --no-audit --no-fund > /dev/null)
done
echo "# bench/anchors: $(date -u +%FT%TZ) parts='$PARTS' rs='$ANCHOR_RS' loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ " $PARTS " == *" http "* ]]; then
  ceiling=0; command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] && ceiling=1
  PATH=$PATH:/usr/sbin CEILING=$ceiling DURATION=${HTTP_DURATION:-10} WARMUP=${HTTP_WARMUP:-2} \
    "$ANCHORS_COPY/run-http-anchors.sh" || echo "# run-http-anchors.sh failed"
fi
if [[ " $PARTS " == *" relay-js "* ]]; then
  RS=$ANCHOR_RS "$ANCHORS_COPY/bench-relay.sh" || echo "# bench-relay.sh failed"
fi
if [[ " $PARTS " == *" relay-c "* ]]; then
  NODE_RELAY=$ANCHORS_COPY/node-ws-relay/server.js SUITES=sweep RS=$ANCHOR_RS STOP_AFTER=${STOP_AFTER:-99} \
    "$HERE/relay.sh" || echo "# bench/relay.sh (node relay) failed"
fi
/usr/bin/python3 "$HERE/summary.py" "$OUT"
