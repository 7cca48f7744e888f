#!/bin/sh
# bench/run.sh — `make bench`: our side of the benchmark comparison, one line per figure.
#
#   bench/run.sh                 HTTP (bench/http.sh) then relay (bench/relay.sh), full length
#   QUICK=1 bench/run.sh         short runs (about 2 minutes in all) to check that it works
#   BENCH=relay bench/run.sh     only one part ("http", "relay" or both)
#
# Every run is bounded in time, talks to 127.0.0.1 only, and stops what it started by pid.
# The raw `RESULT {json}` lines go to OUT (default: a temp file, removed) and to
# stdout; then a `FIGURE ...` line per figure.  Knobs of each part: see bench/http.sh and
# bench/relay.sh (DURATION, WARMUP, RS, LADDER, TICK_HZ, SERVER_CPUS, LOAD_CPUS, ...).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-http relay}
if [ "${QUICK:-0}" = 1 ]; then
  HTTP_DURATION=${HTTP_DURATION:-3} HTTP_WARMUP=${HTTP_WARMUP:-1} ROOMS=${ROOMS:-100}
  DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} DRAIN=${DRAIN:-1} RS=${RS:-1 5 10 20}
  export HTTP_DURATION HTTP_WARMUP ROOMS DURATION WARMUP DRAIN RS
fi
TMP_OUT=
if [ -z "${OUT:-}" ]; then TMP_OUT=$(mktemp /tmp/roomstate-bench.XXXXXX.jsonl); OUT=$TMP_OUT; fi
export OUT
trap '[ -n "$TMP_OUT" ] && rm -f "$TMP_OUT"' EXIT

echo "# make bench: $(date -u +%FT%TZ) $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$HERE/.." rev-parse --short HEAD 2> /dev/null || echo unknown)"
status=0
# the HTTP figures drive the comparison harness's wrk script: without that directory
# (ANCHORS=DIR, default ../shared/anchors next to the repository) they are skipped, saying so
ANCHORS=${ANCHORS:-$HERE/../../shared/anchors}
export ANCHORS
case " $BENCH " in *" http "*)
  if [ -f "$ANCHORS/bench-http.sh" ]; then "$HERE/http.sh" || status=1
  else echo "# skipped: HTTP figures (bench/http.sh needs the comparison harness: set ANCHORS=DIR with its bench-http.sh; not found at $ANCHORS)"
  fi ;;
esac
case " $BENCH " in *" relay "*) "$HERE/relay.sh" || status=1 ;; esac
/usr/bin/python3 "$HERE/summary.py" "$OUT"
exit $status
