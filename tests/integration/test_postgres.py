"""roomstate on PostgreSQL (issue 11): several roomstate-server instances on one database
(writers through both, If-Match races across instances, read-after-write across instances
despite each instance's GET cache), kill -9 of one instance during saves, PostgreSQL
restarted (immediate stop) under load, concurrent `roomstate-migrate up`, `verify` on a
tampered migration, and bad input at start (bad URI, wrong password, unreachable server,
a database of the other backend's schema, a database newer than the binary).

One throw-away cluster for the module (services.Postgres, as the unprivileged postgres
user when run as root), a fresh database per test; passwords only in files."""
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import services
from test_server_fixture import (SESSION_KEY, Server, db_exec, integrity_ok, problem, room_doc,
                                 run_threads)

WRITERS = 8  # per instance
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema", "postgres")
MIGRATIONS = len([f for f in os.listdir(SCHEMA) if f.endswith(".sql")])
SAVES_EACH = 5


def migrate(*args, env=None, cwd=None):
    return subprocess.run([harness.binary("roomstate-migrate"), *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, **(env or {})), cwd=cwd)


class PgCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = services.postgres(cls)
        cls.n = 0

    def new_db(self):
        type(self).n += 1
        name = f"t{type(self).n}"
        dsn = self.pg.create_database(name)
        d = harness.tmpdir(self)
        env = {"ROOMSTATE_DB_PASSWORD_FILE": self.pg.password_file(d)}
        return name, dsn, env

    def two_servers(self, args=("--history", "1000")):
        name, dsn, env = self.new_db()
        a = Server(self, db=dsn, env=env, args=list(args))
        b = Server(self, db=dsn, env=env, args=list(args), migrate_db=False)
        return name, a, b


class TestInstances(PgCase):
    def setUp(self):
        self.t = harness.token(key=SESSION_KEY)

    def test_writers_through_two_instances(self):
        _, a, b = self.two_servers()
        got, lock = [], threading.Lock()

        def client(i):
            s = (a, b)[i % 2]
            for k in range(SAVES_EACH):
                st, h, body = s.request("POST", "/rooms/shared/save",
                                        body=room_doc(2, 0, 0, tag=f"c{i}-{k}"), token=self.t)
                if st not in (200, 201):
                    raise AssertionError(f"save answered {st}: {body[:200]}")
                with lock:
                    got.append((json.loads(body)["version"], f"c{i}-{k}", st))

        self.assertEqual(run_threads(2 * WRITERS, client, timeout=180), [])
        total = 2 * WRITERS * SAVES_EACH
        self.assertEqual(sorted(v for v, _, _ in got), list(range(1, total + 1)))
        self.assertEqual(sum(1 for _, _, st in got if st == 201), 1)
        tags = dict((v, t) for v, t, _ in got)
        for s in (a, b):  # both instances serve the last version and every acked one
            st, h, body = s.request("GET", "/rooms/shared/state", token=self.t)
            self.assertEqual(h["etag"], f'"{total}"')
            self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], tags[total])
            for v in (1, total // 2, total - 1):
                st, h, body = s.request("GET", f"/rooms/shared/state?version={v}", token=self.t)
                self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], tags[v])

    def test_if_match_race_across_instances(self):
        # RFC 9110 §13.1.1: If-Match on a state-changing request, one winner per version
        _, a, b = self.two_servers()
        st, h, body = a.request("POST", "/rooms/race/save", body=room_doc(tag="v1"), token=self.t)
        self.assertEqual(st, 201)
        for rnd in range(4):
            cur = rnd + 1
            results, lock = [], threading.Lock()

            def client(i):
                s = (a, b)[i % 2]
                r = s.request("POST", "/rooms/race/save", body=room_doc(tag=f"r{rnd}-{i}"),
                              token=self.t, headers={"If-Match": f'"{cur}"'})
                with lock:
                    results.append((r[0], r[2]))

            self.assertEqual(run_threads(2 * WRITERS, client, timeout=180), [])
            wins = [body for st, body in results if st == 200]
            self.assertEqual(len(wins), 1, [st for st, _ in results])
            self.assertEqual(json.loads(wins[0])["version"], cur + 1)
            self.assertEqual(sorted(st for st, _ in results), [200] + [412] * (2 * WRITERS - 1))

    def test_read_after_write_across_instances(self):
        # instance B caches GET bodies; a save on A must never leave B serving the old one
        _, a, b = self.two_servers()
        for k in range(1, 31):
            if k > 1:  # B's cache now holds version k-1
                st, h, body = b.request("GET", "/rooms/raw/state", token=self.t)
                self.assertEqual(h["etag"], f'"{k - 1}"')
            st, h, body = a.request("POST", "/rooms/raw/save", body=room_doc(tag=f"t{k}"),
                                    token=self.t)
            self.assertIn(st, (200, 201))
            self.assertEqual(json.loads(body)["version"], k)
            st, h, body = b.request("GET", "/rooms/raw/state", token=self.t)
            self.assertEqual(st, 200)
            self.assertEqual(h["etag"], f'"{k}"')
            self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], f"t{k}")
        # a DELETE on B is seen by A; the next save on A continues the count (never reused)
        st, h, body = b.request("DELETE", "/rooms/raw/state", token=self.t)
        self.assertEqual(st, 204)
        self.assertEqual(a.request("GET", "/rooms/raw/state", token=self.t)[0], 404)
        st, h, body = a.request("POST", "/rooms/raw/save", body=room_doc(), token=self.t)
        self.assertEqual((st, json.loads(body)["version"]), (200, 31))

    def test_kill9_one_instance_during_saves(self):
        _, a, b = self.two_servers()
        acked, lock, stop = {}, threading.Lock(), threading.Event()

        def client(i):
            s = (a, b)[i % 2]
            k = 0
            while not stop.is_set():
                tag = f"c{i}-{k}"
                try:
                    st, h, body = s.request("POST", f"/rooms/k{i}/save", body=room_doc(tag=tag),
                                            token=self.t, timeout=10)
                except OSError:
                    return  # the instance is gone: nothing acknowledged for this save
                if st in (200, 201):
                    with lock:
                        acked[(i, json.loads(body)["version"])] = tag
                k += 1

        ts = [threading.Thread(target=client, args=(i,)) for i in range(2 * WRITERS)]
        for t in ts:
            t.start()
        harness.wait_until(lambda: len(acked) >= 40, timeout=60, what="acknowledged saves")
        a.proc.kill9()
        harness.wait_until(lambda: len(acked) >= 80, timeout=60, what="saves through B")
        stop.set()
        for t in ts:
            t.join(timeout=30)
        self.assertTrue(integrity_ok(b.db, self.pg))
        for (i, v), tag in acked.items():  # every 2xx is stored, readable through B
            st, h, body = b.request("GET", f"/rooms/k{i}/state?version={v}", token=self.t)
            self.assertEqual(st, 200, (i, v))
            self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], tag)


class TestRestart(PgCase):
    def test_immediate_restart_under_load(self):
        t = harness.token(key=SESSION_KEY)
        _, a, b = self.two_servers()
        acked, codes, errors = {}, [], []
        lock, stop = threading.Lock(), threading.Event()
        problems = ("https://roomstate.dev/problems/not-ready",
                    "https://roomstate.dev/problems/service-unavailable")

        def client(i):
            s = (a, b)[i % 2]
            k = 0
            while not stop.is_set():
                tag = f"c{i}-{k}"
                st, h, body = s.request("POST", f"/rooms/p{i}/save", body=room_doc(tag=tag),
                                        token=t, timeout=30)
                with lock:
                    codes.append(st)
                    if st in (200, 201):
                        acked[(i, json.loads(body)["version"])] = tag
                    elif st != 503:
                        errors.append(f"save answered {st}: {body[:300]}")
                    # RFC 9110 §10.2.3: a 503 says when to retry; RFC 9457 problem document
                    elif h.get("retry-after") != "1" or json.loads(body)["type"] not in problems:
                        errors.append(f"bad 503: {h} {body[:200]}")
                k += 1

        ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for th in ts:
            th.start()
        try:
            harness.wait_until(lambda: len(acked) >= 20, timeout=60, what="saves before")
            self.pg.stop("immediate")
            # during the outage: saves and /readyz get a 503 with Retry-After
            harness.wait_until(lambda: 503 in codes, timeout=30, what="a 503 during the outage")
            for s in (a, b):
                st, h, body = s.request("GET", "/readyz")
                problem(self, st, h, body, 503, "not-ready")
                self.assertEqual(h.get("retry-after"), "1")
                st, h, body = s.request("GET", "/rooms/p0/state", token=t)
                self.assertEqual(st, 503)
                self.assertEqual(h.get("retry-after"), "1")
            before = len(acked)
        finally:
            self.pg.start()
        # both instances reconnect by themselves and serve again
        for s in (a, b):
            harness.wait_until(lambda s=s: s.request("GET", "/readyz")[0] == 200, timeout=60,
                               what="/readyz after the restart")
        harness.wait_until(lambda: len(acked) >= before + 20, timeout=60,
                           what="saves after the restart")
        stop.set()
        for th in ts:
            th.join(timeout=60)
        self.assertTrue(all(not th.is_alive() for th in ts))
        self.assertEqual(errors, [])
        for (i, v), tag in acked.items():  # no acknowledged save lost
            st, h, body = a.request("GET", f"/rooms/p{i}/state?version={v}", token=t)
            self.assertEqual(st, 200, (i, v))
            self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], tag)


class TestReconnect(PgCase):
    def test_first_requests_after_a_restart_succeed(self):
        # connections that died with the old PostgreSQL are replaced on their next use: a
        # read or a save that had sent nothing yet runs again on a fresh connection
        t = harness.token(key=SESSION_KEY)
        _, a, b = self.two_servers(args=("--db-pool", "1", "--threads", "1",
                                         "--save-workers", "0"))
        st, h, body = a.request("POST", "/rooms/rc/save", body=room_doc(tag="v1"), token=t)
        self.assertEqual(st, 201)
        self.assertEqual(b.request("GET", "/rooms/rc/state", token=t)[0], 200)
        self.pg.stop("immediate")
        self.pg.start()
        st, h, body = b.request("GET", "/rooms/rc/state", token=t)
        self.assertEqual(st, 200, body)
        self.assertEqual(h["etag"], '"1"')
        st, h, body = a.request("POST", "/rooms/rc/save", body=room_doc(tag="v2"), token=t)
        self.assertEqual((st, json.loads(body)["version"]), (200, 2))
        self.assertIn("reconnected to PostgreSQL", a.proc.output())


class TestLockWait(PgCase):
    def test_save_behind_a_held_row_lock_is_bounded_then_503(self):
        # issue 9: a save waiting for another transaction's lock on the room (another server's
        # save, an operator's session) waits --db-lock-wait-ms at most (the session's
        # lock_timeout), then 503 with Retry-After (RFC 9110 section 15.6.4 / 10.2.3), nothing
        # stored; once the lock is gone the next save succeeds
        t = harness.token(key=SESSION_KEY)
        name, dsn, env = self.new_db()
        s = Server(self, db=dsn, env=env, args=["--db-lock-wait-ms", "300"])
        st, _, _ = s.request("POST", "/rooms/lk/save", body=room_doc(tag="v1"), token=t)
        self.assertEqual(st, 201)
        holder = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-h", self.pg.sock, "-p", str(self.pg.port), "-U",
             self.pg.user, "-d", name],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PGAPPNAME="lockholder"))
        self.addCleanup(lambda: (holder.poll() is None and holder.kill(), holder.wait(10)))
        holder.stdin.write("BEGIN;\nSELECT 1 FROM rooms WHERE room_id = 'lk' FOR UPDATE;\n")
        holder.stdin.flush()
        # psql buffers its output on a pipe: ask the database instead when the holder's
        # transaction has run its SELECT ... FOR UPDATE and sits idle holding the lock
        harness.wait_until(
            lambda: self.pg.psql("SELECT state FROM pg_stat_activity WHERE application_name = "
                                 "'lockholder'").strip() == "idle in transaction",
            timeout=30, what="psql holds the room's row lock")
        began = time.monotonic()
        st, h, body = s.request("POST", "/rooms/lk/save", body=room_doc(tag="v2"), token=t)
        waited = time.monotonic() - began
        problem(self, st, h, body, 503)
        self.assertIn("retry-after", h)
        self.assertLess(waited, 10.0, "the wait was not bounded")
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(30)
        st, h, body = s.request("GET", "/rooms/lk/state", token=t)
        self.assertEqual((st, h["etag"]), (200, '"1"'), "the refused save stored something")
        st, _, body = s.request("POST", "/rooms/lk/save", body=room_doc(tag="v3"), token=t)
        self.assertEqual((st, json.loads(body)["version"]), (200, 2))


class TestMigrate(PgCase):
    def rows(self, name):
        return db_exec(self.pg.dsn(name), "SELECT version, checksum FROM schema_migrations "
                                          "ORDER BY version", self.pg).split()

    def test_concurrent_up_applies_each_once(self):
        name, dsn, env = self.new_db()
        exe = harness.binary("roomstate-migrate")
        full = dict(os.environ, **env)
        procs = [subprocess.Popen([exe, "--db", dsn, "up"], env=full, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for p in procs:  # stopped by pid even when a bound below runs out
            self.addCleanup(lambda p=p: p.poll() is None and (p.kill(), p.wait(10)))
        outs = [p.communicate(timeout=60) for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0, 0], outs)
        # each migration applied by exactly one runner (a runner holds the lock for one
        # migration at a time, so the runners may share the work)
        counts = [re.search(r"applied (\d+) migration", o) for o, _ in outs]
        self.assertEqual(sum(int(m.group(1)) for m in counts if m), MIGRATIONS, outs)
        self.assertEqual(len(self.rows(name)), MIGRATIONS)
        r = migrate("--db", dsn, "verify", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("verify: ok", r.stdout)
        self.assertNotIn(self.pg.password, r.stdout + r.stderr)

    def test_verify_catches_tampered_migration(self):
        name, dsn, env = self.new_db()
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 0)
        db_exec(dsn, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1",
                self.pg)
        r = migrate("--db", dsn, "verify", env=env)
        self.assertEqual(r.returncode, 3)
        self.assertIn("0001_rooms", r.stderr)
        self.assertIn("MODIFIED", migrate("--db", dsn, "status", env=env).stdout)
        r = migrate("--db", dsn, "up", env=env)  # up refuses to touch it
        self.assertEqual(r.returncode, 3)
        s = Server(self, db=dsn, env=env, migrate_db=False, start=False)
        p = s.start(wait=False)
        self.assertNotEqual(p.p.wait(timeout=30), 0)
        self.assertIn("does not match this binary", p.output())

    def test_pgpassfile(self):
        # libpq's own password file works too (PGPASSFILE, ~/.pgpass format, mode 0600)
        name, dsn, _ = self.new_db()
        path = os.path.join(harness.tmpdir(self), "pgpass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.pg.port}:{name}:{self.pg.user}:{self.pg.password}\n")
        env = {"PGPASSFILE": path, "ROOMSTATE_DB_PASSWORD_FILE": ""}
        r = migrate("--db", dsn, "up", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = migrate("--db", dsn, "verify", env={"PGPASSFILE": "/nonexistent",
                                                "ROOMSTATE_DB_PASSWORD_FILE": ""})
        self.assertEqual(r.returncode, 1)
        self.assertIn("password", r.stderr)

    def test_uri_is_not_a_path(self):
        # a postgresql:// URI once created a directory "postgresql:" holding a SQLite file
        cwd = tempfile.mkdtemp(prefix="roomstate-it-")
        self.addCleanup(subprocess.run, ["rm", "-rf", cwd])
        port = harness.free_port()  # nothing listens there
        r = migrate("--db", f"postgresql://nobody@127.0.0.1:{port}/rooms", "up", cwd=cwd)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"host 127.0.0.1 port {port}", r.stderr)
        self.assertEqual(os.listdir(cwd), [])


class TestCopy(PgCase):
    def snapshot(self, s, t, rooms):
        out = {}
        for room in rooms:
            st, h, body = s.request("GET", f"/rooms/{room}/state", token=t)
            vs = s.request("GET", f"/rooms/{room}/versions", token=t)
            out[room] = (st, body if st == 200 else None, vs[0],
                         json.loads(vs[2])["versions"] if vs[0] == 200 else None)
        return out

    def test_copy_sqlite_to_postgres_and_back(self):
        t = harness.token(key=SESSION_KEY)
        sq = Server(self, db=os.path.join(harness.tmpdir(self), "from.db"),
                    args=["--history", "2"])
        for k in range(3):
            self.assertIn(sq.request("POST", "/rooms/a/save", body=room_doc(tag=f"a{k}"),
                                     token=t)[0], (200, 201))
        for k in range(2):
            sq.request("POST", "/rooms/b/save", body=room_doc(tag=f"b{k}"), token=t)
        self.assertEqual(sq.request("DELETE", "/rooms/b/state", token=t)[0], 204)
        sq.request("POST", "/rooms/c/save", body=room_doc(tag="c0"), token=t)
        before = self.snapshot(sq, t, "abc")
        self.assertEqual(sq.stop(), 0)

        name, dsn, env = self.new_db()
        # not migrated yet: refused, nothing written
        r = migrate("copy", "--from", sq.db, "--to", dsn, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("roomstate-migrate --db URI up", r.stderr)
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 0)
        r = migrate("copy", "--from", sq.db, "--to", dsn, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("copied 3 room(s), 3 version(s)", r.stdout)  # a: 2 kept, b: 0, c: 1
        self.assertNotIn(self.pg.password, r.stdout + r.stderr)
        # a second copy into a used database is refused and changes nothing
        r = migrate("copy", "--from", sq.db, "--to", dsn, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds 3 room(s)", r.stderr)

        pg = Server(self, db=dsn, env=env, migrate_db=False, args=["--history", "2"])
        self.assertEqual(self.snapshot(pg, t, "abc"), before)
        # the counters came along: b's next version continues after the deleted ones
        st, h, body = pg.request("POST", "/rooms/b/save", body=room_doc(tag="b2"), token=t)
        self.assertEqual((st, json.loads(body)["version"]), (200, 3))
        after = self.snapshot(pg, t, "abc")
        self.assertEqual(pg.stop(), 0)

        back = os.path.join(harness.tmpdir(self), "back.db")
        self.assertEqual(migrate("--db", back, "up").returncode, 0)
        r = migrate("copy", "--from", dsn, "--to", back, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        sq2 = Server(self, db=back, migrate_db=False, args=["--history", "2"])
        self.assertEqual(self.snapshot(sq2, t, "abc"), after)
        self.assertEqual(migrate("copy", "--from", back).returncode, 2)  # --to missing


class TestDeployInit(PgCase):
    def test_db_init_script_then_migrate_and_serve(self):
        # deploy/roomstate-db-init.sh (the compose deploy step) on this cluster, twice
        d = harness.tmpdir(self)
        pwf = os.path.join(d, "roomstate_db_password")
        with open(pwf, "w") as f:
            f.write("rs-pw-'quoted\n")  # a quote, to show it is passed as a literal
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                              "deploy", "roomstate-db-init.sh")
        env = dict(os.environ, PGHOST=self.pg.sock, PGPORT=str(self.pg.port),
                   PGUSER=self.pg.user, ROOMSTATE_DB_PASSWORD_FILE=pwf,
                   ROOMSTATE_DB_NAME="rsinit", ROOMSTATE_DB_ROLE="rsrole")
        for _ in range(2):
            r = subprocess.run(["sh", script], env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("rs-pw", r.stdout + r.stderr)
        dsn = f"postgresql://rsrole@127.0.0.1:{self.pg.port}/rsinit"
        penv = {"ROOMSTATE_DB_PASSWORD_FILE": pwf}
        r = migrate("--db", dsn, "up", env=penv)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = Server(self, db=dsn, env=penv, migrate_db=False)
        t = harness.token(key=SESSION_KEY)
        self.assertEqual(s.request("POST", "/rooms/x/save", body=room_doc(), token=t)[0], 201)
        owner = db_exec(self.pg.dsn("postgres"), "SELECT pg_get_userbyid(datdba) FROM "
                        "pg_database WHERE datname = 'rsinit'", self.pg)
        self.assertEqual(owner.strip(), "rsrole")


class TestBadInput(PgCase):
    """A clear error at start, a non-zero exit, nothing changed."""

    def start_fails(self, dsn, env, *want):
        s = Server(self, db=dsn, env=env, migrate_db=False, start=False)
        p = s.start(wait=False)
        self.assertNotEqual(p.p.wait(timeout=60), 0)
        out = p.output()
        for w in want:
            self.assertIn(w, out)
        self.assertNotIn(self.pg.password, out)
        return out

    def test_bad_uri(self):
        for bad in ("postgresql://127.0.0.1:notaport/rooms", "postgres://[::1/x",
                    "host=127.0.0.1 port="):
            out = self.start_fails(bad, {}, "database")
            r = migrate("--db", bad, "up")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertTrue(r.stderr.strip())

    def test_unreachable_names_the_host(self):
        port = harness.free_port()
        self.start_fails(f"postgresql://roomstate@127.0.0.1:{port}/rooms", {},
                         f"host 127.0.0.1 port {port}")

    def test_wrong_password(self):
        name, dsn, env = self.new_db()
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 0)
        d = harness.tmpdir(self)
        wrong = os.path.join(d, "wrong")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        out = self.start_fails(dsn, {"ROOMSTATE_DB_PASSWORD_FILE": wrong},
                               f"host 127.0.0.1 port {self.pg.port}", "password authentication")
        self.assertNotIn("not-the-password", out)
        # and the password inside the URI never shows either
        self.start_fails(self.pg.dsn(name, with_password=True).replace(self.pg.password, "pw-x"),
                         {}, "password authentication")

    def test_other_backend_schema_and_newer_database(self):
        # a PostgreSQL database migrated with the SQLite migrations' checksums
        sq = os.path.join(harness.tmpdir(self), "x.db")
        self.assertEqual(migrate("--db", sq, "up").returncode, 0)
        import sqlite3
        con = sqlite3.connect(sq)
        ver, nm, ck, at = con.execute("SELECT version, name, checksum, applied_at FROM "
                                      "schema_migrations").fetchone()
        con.close()
        name, dsn, env = self.new_db()
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 0)
        db_exec(dsn, f"UPDATE schema_migrations SET checksum = '{ck}' WHERE version = {ver}",
                self.pg)
        self.start_fails(dsn, env, "does not match this binary")
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 3)
        # a database newer than this binary: refused, and up changes nothing
        name, dsn, env = self.new_db()
        self.assertEqual(migrate("--db", dsn, "up", env=env).returncode, 0)
        db_exec(dsn, "INSERT INTO schema_migrations VALUES (9999, 'future', 'x', 'now')", self.pg)
        before = db_exec(dsn, "SELECT * FROM schema_migrations ORDER BY version", self.pg)
        self.start_fails(dsn, env, "newer than this binary")
        r = migrate("--db", dsn, "up", env=env)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(db_exec(dsn, "SELECT * FROM schema_migrations ORDER BY version",
                                 self.pg), before)
        # an SQLite file given where the server expects nothing else: its own backend's rules
        self.assertEqual(Server(self, db=sq, migrate_db=False).request("GET", "/readyz")[0], 200)


if __name__ == "__main__":
    unittest.main()
