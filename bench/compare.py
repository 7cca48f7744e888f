#!/usr/bin/python3
"""bench/compare.py — the ratios of `make bench-compare` from its RESULT json lines.

    /usr/bin/python3 bench/compare.py results.jsonl

Prints every figure (bench/summary.py), then one line per target:
  save   POST /rooms/:id/save req/s, roomstate / Node asset server        target >= 5
  get    GET /rooms/:id/state req/s, roomstate / nginx (same bytes, static) target >= 0.8
  relay  largest R (20-player rooms at 20 Hz) that holds, roomstate / Node ws relay,
         same C generator                                                 target >= 10
and the relay's rooms per core: R / (relay CPU share) at its largest R that holds, the
figure to size a fleet by.  Exit status 0 whatever the ratios (it reports, it does not
judge a machine); 1 when a figure is missing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summary  # noqa: E402

TARGETS = {"save": 5.0, "get": 0.8, "relay": 10.0}


def http_rps(rows, test, target):
    for r in rows:
        if (r.get("test") == test and r.get("target") == target and not r.get("error")
                and summary.http_errors(r) == 0):
            return r.get("rps")
    return None


def relay_best(rows, target, generator="relay-load.c"):
    """The sweep row with the largest R that holds, of one target and generator (both relays
    are driven by the same C generator)."""
    best = None
    for r in rows:
        if (r.get("test") == "relay" and r.get("target") == target and r.get("suite") == "sweep"
                and r.get("generator") == generator and r.get("clients_per_room") == 20
                and r.get("holds")):
            if best is None or r["rooms"] > best["rooms"]:
                best = r
    return best


def line(name, ours, theirs, what):
    if ours is None or not theirs:
        print(f"RATIO {name:5} missing: {what}")
        return False
    ratio = ours / theirs
    ok = "meets" if ratio >= TARGETS[name] else "BELOW"
    print(f"RATIO {name:5} {ratio:6.2f}x  ({what}: {ours:,.1f} vs {theirs:,.1f})  target >= {TARGETS[name]}x: {ok}")
    return True


def main(path):
    summary.main(path)
    sys.stdout.flush()
    rows = summary.load_results(path, report=False)
    have = True
    have &= line("save", http_rps(rows, "post_save", "c-asset-server"),
                 http_rps(rows, "post_save", "node-asset-server"), "req/s roomstate vs Node asset server")
    have &= line("get", http_rps(rows, "get_state", "c-asset-server"),
                 http_rps(rows, "get_state_ceiling", "nginx-static"), "req/s roomstate vs nginx static file")
    ours, node = relay_best(rows, "roomstate-relay"), relay_best(rows, "node-ws-relay")
    have &= line("relay", ours and ours["rooms"], node and node["rooms"],
                 "largest R holding p99 < 50 ms, roomstate-relay vs Node ws relay")
    for r, name in ((ours, "roomstate-relay"), (node, "node-ws-relay")):
        if r and r.get("relay_cpu_pct"):
            share = r["relay_cpu_pct"] / 100.0
            print(f"PERCORE {name}: R={r['rooms']} at {r['relay_cpu_pct']:.1f}% of one core ->"
                  f" {r['rooms'] / share:.0f} rooms per core ({r['deliveries_per_s'] / share:,.0f} deliveries/s"
                  f" per core; {1e6 * share / r['deliveries_per_s']:.2f} us of relay CPU per delivery);"
                  f" generator at {r.get('loadgen_cpu_pct', 0):.0f}% of its core")
    return 0 if have else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
