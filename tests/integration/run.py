#!/usr/bin/python3
"""Runs every tests/integration/test_*.py (unittest) against the binaries in $ROOMSTATE_BIN
and prints the closing line 'N passed, N failed'.  Select with: run.py [pattern ...], e.g.
run.py test_server_http (module names) or ROOMSTATE_TESTS=test_relay_basic.
ROOMSTATE_TEST_SEED=N seeds Python's `random` (the tests' random choices); without it a seed
is drawn and printed, so a failed run can be repeated with the same choices."""
import os
import random
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    names = sys.argv[1:] or os.environ.get("ROOMSTATE_TESTS", "").split()
    seed = int(os.environ.get("ROOMSTATE_TEST_SEED") or random.SystemRandom().randrange(1 << 31))
    random.seed(seed)
    print(f"integration seed: ROOMSTATE_TEST_SEED={seed}", flush=True)
    loader = unittest.TestLoader()
    if names:
        suite = unittest.TestSuite(loader.loadTestsFromName(n) for n in names)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult, stream=sys.stdout)
    t0 = time.monotonic()
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    print(f"integration ({time.monotonic() - t0:.1f} s)")
    print(f"{res.passed} passed, {failed} failed, {skipped} skipped")
    if res.testsRun == 0:
        print("no integration test ran", file=sys.stderr)
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
