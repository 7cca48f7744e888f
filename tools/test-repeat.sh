#!/bin/sh
# tools/test-repeat.sh N BUILD_DIR — runs the integration suite N times against the binaries
# in BUILD_DIR and lists every failure with its run number, test name, seed and log.
# Each run's output goes to $OUT/run-K.log (OUT defaults to a new directory under /tmp);
# logs of passing runs are removed, those of failing runs kept.  Exits 1 if any run failed.
# Called by `make test-repeat N=5`.
set -u
n=${1:?usage: test-repeat.sh N BUILD_DIR}
bin=${2:?usage: test-repeat.sh N BUILD_DIR}
case $n in ''|*[!0-9]*) echo "test-repeat: N must be a positive integer, got '$n'" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] || { echo "test-repeat: N must be at least 1" >&2; exit 2; }
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-$(mktemp -d /tmp/roomstate-test-repeat.XXXXXX)}
mkdir -p "$OUT"
summary=$OUT/failures.txt
: >"$summary"
failed_runs=0
k=1
while [ "$k" -le "$n" ]; do
    log=$OUT/run-$k.log
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    seed=$((seed % 2147483648))
    printf 'test-repeat: run %d/%d (ROOMSTATE_TEST_SEED=%s) ... ' "$k" "$n" "$seed"
    start=$(date +%s)
    ROOMSTATE_TEST_SEED=$seed ROOMSTATE_BIN=$bin "$PYTHON" tests/integration/run.py >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        echo "ok ($(tail -n 1 "$log"), ${took} s)"
        rm -f "$log"
    else
        failed_runs=$((failed_runs + 1))
        echo "FAILED (rc $rc, ${took} s): $log"
        # unittest prints "FAIL: name (module.Class...)" / "ERROR: ..." per failed test
        grep -E '^(FAIL|ERROR): ' "$log" | sed "s|^|run $k seed $seed: |; s|\$| -- log $log|" \
            >>"$summary"
        grep -qE '^(FAIL|ERROR): ' "$log" ||
            echo "run $k seed $seed: the suite failed without a test failure (rc $rc) -- log $log" \
                >>"$summary"
    fi
    k=$((k + 1))
done
if [ "$failed_runs" -eq 0 ]; then
    echo "test-repeat: all $n runs passed"
    rm -f "$summary"; rmdir "$OUT" 2>/dev/null
    exit 0
fi
echo "test-repeat: $failed_runs of $n runs failed; failures (also in $summary):"
cat "$summary"
echo "repeat one with: ROOMSTATE_TEST_SEED=<seed> ROOMSTATE_BIN=$bin $PYTHON tests/integration/run.py <module>"
exit 1
