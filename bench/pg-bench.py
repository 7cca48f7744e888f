#!/usr/bin/python3
"""bench/pg-bench.py — save and GET figures of roomstate-server on SQLite, on PostgreSQL
with one server, and on PostgreSQL with two servers behind HAProxy, in one session.

Starts a throw-away PostgreSQL cluster (tests/integration/services.py: initdb in a temp
dir, as the unprivileged postgres user when run as root, stopped by pid), creates one fresh
database per run, and runs bench/http.sh (the anchors' harness) three times with the same
knobs (HTTP_DURATION, HTTP_WARMUP, ROOMS, CONNS, SERVER_CPUS, LOAD_CPUS: see bench/http.sh).
Prints the harness's RESULT lines, each run headed by a `# run ...` line.

    /usr/bin/python3 bench/pg-bench.py            # RUNS="sqlite pg1 pg2" by default
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import services  # noqa: E402  (the test harness's PostgreSQL)


def main():
    runs = os.environ.get("RUNS", "sqlite pg1 pg2").split()
    pg = services.Postgres()
    work = tempfile.mkdtemp(prefix="roomstate-pg-bench-")
    status = 0
    try:
        pwfile = pg.password_file(work)
        for i, run in enumerate(runs):
            env = dict(os.environ)
            if run.startswith("pg"):
                env["DB"] = pg.create_database(f"bench{i}")
                env["ROOMSTATE_DB_PASSWORD_FILE"] = pwfile
                env["SERVERS"] = run[2:] or "1"
            print(f"# run {run}: {'PostgreSQL x' + env['SERVERS'] if 'DB' in env else 'SQLite'}"
                  f", loadavg {open('/proc/loadavg').read().split()[:3]}", flush=True)
            r = subprocess.run(["bash", os.path.join(HERE, "http.sh")], env=env)
            status |= r.returncode
    finally:
        pg.close()
        subprocess.run(["rm", "-rf", work])
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
