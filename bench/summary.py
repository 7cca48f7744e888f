#!/usr/bin/python3
"""bench/summary.py — one `FIGURE ...` line per figure from the RESULT json lines of
bench/http.sh and bench/relay.sh (a .jsonl file, one object per line).

    /usr/bin/python3 bench/summary.py results.jsonl
"""
import json
import sys


def fmt(v, nd=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def load_results(path, report=True):
    """The RESULT objects of a .jsonl file; an unreadable line is reported (report) and skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    if report:
                        print(f"FIGURE unreadable result line: {line[:80]}")
    return rows


def http_errors(r):
    """The failed requests of an HTTP RESULT row (non-2xx/3xx answers and socket errors)."""
    return sum(r.get(k) or 0 for k in ("non2xx3xx", "connect_err", "read_err", "write_err", "timeouts"))


def main(path):
    rows = load_results(path)
    best = {}  # (target, generator, tick) -> largest R that holds, or None
    for r in rows:
        t = r.get("test")
        err = f" ERROR {r['error']}" if r.get("error") else ""
        if t in ("post_save", "get_state", "get_state_ceiling"):
            bad = http_errors(r)
            print(f"FIGURE http {t:17} {r.get('target')}: {fmt(r.get('rps'))} req/s  p50 {fmt(r.get('p50_ms'), 2)} ms"
                  f"  p99 {fmt(r.get('p99_ms'), 2)} ms  errors {bad}{err}")
        elif t == "server_memory":
            print(f"FIGURE http peak RSS {r.get('target')}: {fmt(r.get('peak_rss_mib'))} MiB"
                  f"  (alive after run: {r.get('alive_after_run')})")
        elif t == "relay":
            gen = r.get("generator", "relay-load.js")
            suite = r.get("suite", "sweep")
            tick = r.get("relay_tick_hz", "none")
            if "holds" not in r:  # the anchors' bench-relay.sh verdict
                r["holds"] = (not r.get("error") and r.get("p99_ms") is not None and r["p99_ms"] < 50
                              and r.get("drops") == 0
                              and (r.get("sends_per_s") or 0) >= 0.95 * (r.get("target_sends_per_s") or 1))
            exp = r.get("expected_deliveries") or 0
            got = r.get("delivered") or 0
            pct = 100.0 * got / exp if exp else 0.0
            relay_cpu = r.get("relay_cpu_pct", r.get("server_cpu_pct"))
            rss = r.get("relay_peak_rss_mib", r.get("server_rss_mib"))
            print(f"FIGURE relay {suite:6} {r.get('target')} ({gen}) {r.get('rooms')}x{r.get('clients_per_room')}"
                  f" @{r.get('hz')}Hz tick {tick}: {fmt(r.get('deliveries_per_s'), 0)} deliveries/s"
                  f"  p50 {fmt(r.get('p50_ms'), 2)} ms  p99 {fmt(r.get('p99_ms'), 2)} ms"
                  f"  delivered {pct:.1f}%  relay cpu {fmt(relay_cpu)}%"
                  f"  rss {fmt(rss)} MiB  loadgen cpu {fmt(r.get('loadgen_cpu_pct'))}%"
                  f"  in/out per client {fmt(r.get('bytes_in_per_client_s'), 0)}/{fmt(r.get('bytes_out_per_client_s'), 0)} B/s"
                  f"  holds {r.get('holds')}{err}")
            if suite == "sweep" and r.get("clients_per_room") == 20:
                key = (r.get("target"), gen, tick)
                best.setdefault(key, None)
                if r.get("holds") and (best[key] is None or r.get("rooms", 0) > best[key]):
                    best[key] = r.get("rooms")
    for (target, gen, tick), b in best.items():
        print(f"FIGURE relay capacity {target} ({gen}, tick {tick}): 20-player rooms held with p99 < 50 ms:"
              f" {b if b is not None else 'none'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py results.jsonl")
    main(sys.argv[1])
