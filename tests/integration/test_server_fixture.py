"""Shared pieces of the test_server_*.py tests (no tests in this file): a migrated
roomstate-server on a free loopback port with its own keys, a raw HTTP/1.1 client for
requests urllib cannot send (odd methods, huge or chunked bodies, forged headers), forged
tokens, and a realistic room document.

ROOMSTATE_TEST_BACKEND=postgres runs every Server on PostgreSQL instead of SQLite: one
throw-away cluster per test process (services.Postgres, removed at exit), a fresh database
per Server, the password handed over in a file (ROOMSTATE_DB_PASSWORD_FILE)."""
import atexit
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import signal
import subprocess
import threading
import time

import harness
import services

BACKEND = os.environ.get("ROOMSTATE_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"ROOMSTATE_TEST_BACKEND={BACKEND}: use sqlite or postgres")
_PG = None
_PG_DBS = 0


def shared_postgres():
    """The test process's PostgreSQL cluster (started on first use, removed at exit)."""
    global _PG
    if _PG is None:
        _PG = services.Postgres()
        atexit.register(_PG.close)
    return _PG


def new_pg_database(directory):
    """A fresh database on the shared cluster: (dsn without password, env with the
    password file)."""
    global _PG_DBS
    pg = shared_postgres()
    _PG_DBS += 1
    dsn = pg.create_database(f"it_{os.getpid()}_{_PG_DBS}")
    return dsn, {"ROOMSTATE_DB_PASSWORD_FILE": pg.password_file(directory)}

SESSION_KEY = "test-session-key-0123456789abcdef"
SERVICE_KEY = "test-service-key-fedcba9876543210"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, claims, key=SESSION_KEY, digest=hashlib.sha256, signature=None):
    """A JWT with any header, claims and HMAC digest (or a given signature)."""
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims).encode())
    if signature is None:
        signature = b64url(hmac.new(key.encode(), f"{h}.{p}".encode(), digest).digest())
    return f"{h}.{p}.{signature}"


def claims(uid=harness.UID1, username="player1", ttl=3600):
    now = int(time.time())
    return {"tid": "t-1", "uid": uid, "usn": username, "exp": now + ttl, "iat": now}


def tokens():
    """Named tokens: one valid, and the bad kinds the contract lists."""
    return {
        "valid": harness.token(key=SESSION_KEY),
        "expired": harness.token(key=SESSION_KEY, ttl=-60),
        "wrong-key": harness.token(key="not-the-key"),
        "alg-none": forge({"alg": "none", "typ": "JWT"}, claims(), signature=""),
        "alg-lower": forge({"alg": "hs256", "typ": "JWT"}, claims()),
        "hs384": forge({"alg": "HS384", "typ": "JWT"}, claims(), digest=hashlib.sha384),
        "hs512": forge({"alg": "HS512", "typ": "JWT"}, claims(), digest=hashlib.sha512),
        "no-exp": forge({"alg": "HS256", "typ": "JWT"},
                        {k: v for k, v in claims().items() if k != "exp"}),
        "bad-uid": forge({"alg": "HS256", "typ": "JWT"}, claims(uid="not-a-uuid")),
        "garbage": "abc.def.ghi",
        "two-parts": "abc.def",
        "oversized": "a" * 9000 + "." + "b" * 10 + "." + "c" * 10,
    }


def room_doc(n_saved=3, n_room=2, n_held=1, tag="x"):
    """A room document with objects of all three persist modes."""
    objs = []
    for i in range(n_saved):
        objs.append({
            "object_id": f"saved-{i}", "manifest_id": "crate_v1", "persist_mode": "placed_saved",
            "owner_id": harness.UID1, "held_by": None, "placed": True, "seq": i,
            "transform": {"position": [i, 0.5, -2.0], "rotation": [0, 0, 0, 1]},
            "properties": {"color": f"#{i:06x}", "label": tag, "wobble": 0.25,
                           "highlight": True}})
    for i in range(n_room):
        objs.append({"object_id": f"room-{i}", "manifest_id": "crate_v1",
                     "persist_mode": "placed_room", "seq": 1})
    for i in range(n_held):
        objs.append({"object_id": f"held-{i}", "manifest_id": "crate_v1",
                     "persist_mode": "transient_held", "held_by": harness.UID1})
    return {
        "manifests": {
            "crate_v1": {"properties": {
                "color": {"tier": "reliable_on_change"},
                "label": {"tier": "snapshot_only"},
                "wobble": {"tier": "high_rate_unreliable"},
                "highlight": {"tier": "reliable_on_change", "durable": False}}},
            "unused_v1": {"properties": {"x": {"tier": "snapshot_only"}}},
        },
        "objects": objs,
    }


def run_threads(n, fn, timeout=120):
    """Runs fn(0..n-1) on n threads; returns the exceptions raised (repr) and a note for
    threads still running after the bound."""
    errors = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=timeout)
    alive = [t for t in ts if t.is_alive()]
    return errors + [f"{len(alive)} client thread(s) still running"] * bool(alive)


def migrate(db, env=None):
    subprocess.run([harness.binary("roomstate-migrate"), "--db", db, "up"], check=True,
                   capture_output=True, timeout=30, env=dict(os.environ, **(env or {})))


def db_exec(db, sql, pg=None):
    """Runs one SQL statement on a Server's database (SQLite file or PostgreSQL URI on the
    cluster pg, by default the shared one)."""
    if db.startswith("postgresql://"):
        return (pg or shared_postgres()).psql(sql, db=db.rsplit("/", 1)[1])
    import sqlite3
    con = sqlite3.connect(db, timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()
    return ""


def integrity_ok(db, pg=None):
    """SQLite: PRAGMA integrity_check.  PostgreSQL (whose storage checks itself): every
    current version names a stored row and no stored version is newer than its counter."""
    if db.startswith("postgresql://"):
        out = db_exec(db, "SELECT (SELECT count(*) FROM rooms r WHERE current_version IS NOT "
                          "NULL AND NOT EXISTS (SELECT 1 FROM room_versions v WHERE "
                          "v.room_id = r.room_id AND v.version = r.current_version)) + "
                          "(SELECT count(*) FROM room_versions v JOIN rooms r USING (room_id) "
                          "WHERE v.version > r.last_version)", pg)
        return out.strip() == "0"
    import sqlite3
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


class Server:
    """A migrated roomstate-server on a free port; stopped by pid at test cleanup."""

    def __init__(self, test, args=(), db=None, migrate_db=True, start=True, env=None):
        self.test = test
        self.dir = harness.tmpdir(test)
        self.env = dict(env or {})
        if db is None and BACKEND == "postgres":
            db, pg_env = new_pg_database(self.dir)
            self.env.update(pg_env)
        self.db = db or os.path.join(self.dir, "rooms.db")
        self.args = list(args)
        self.proc = None
        self.procs = []  # every process started, for the sanitizer check
        key_file = os.path.join(self.dir, "nakama.key")
        with open(key_file, "w") as f:
            f.write(SESSION_KEY + "\n")
        svc_file = os.path.join(self.dir, "service.key")
        with open(svc_file, "w") as f:
            f.write(SERVICE_KEY + "\n")
        self.key_args = ["--nakama-key-file", key_file, "--service-key-file", svc_file]
        if migrate_db:
            migrate(self.db, self.env)
        test.addCleanup(self.stop)
        if start:
            self.start()

    def command(self):
        self.port = harness.free_port()
        return ([harness.binary("roomstate-server"), "--listen", f"127.0.0.1:{self.port}",
                 "--db", self.db, "--log-level", "info"] + self.key_args + self.args)

    def start(self, wait=True):
        self.proc = harness.Proc(self.command(), env=self.env,
                                 log_path=os.path.join(self.dir, f"server-{time.time_ns()}.log"))
        self.procs.append(self.proc)
        if wait:
            harness.wait_until(lambda: harness.port_open(self.port) or not self.proc.alive(),
                               timeout=15, what="server to listen")
            if not self.proc.alive():
                raise AssertionError("server exited at start:\n" + self.proc.output())
        return self.proc

    def stop(self):
        """Stops the server (SIGTERM); fails when a sanitizer reported anything."""
        rc = None
        if self.proc and self.proc.alive():
            rc = self.proc.stop()
        elif self.proc:
            rc = self.proc.p.returncode
        for p in self.procs:
            with open(p.log_path, encoding="utf-8", errors="replace") as f:
                out = f.read()
            if p is self.proc and rc is not None and rc < 0 and rc != -signal.SIGKILL:
                # died of a signal at shutdown: keep its last words in the test output (the
                # log file goes with the temporary directory)
                sys.stderr.write(f"\nserver exited on signal {-rc}; its log ends:\n"
                                 f"{out[-3000:]}\n")
            for mark in SANITIZER_MARKS:
                if mark in out:
                    raise AssertionError(f"sanitizer report in the server log:\n{out[-4000:]}")
        return rc

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, body=None, token=None, headers=None, timeout=30):
        """urllib request; token 'valid' etc. or a raw token string; returns
        (status, headers, body bytes)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        return harness.http(method, self.url(path), body=body, headers=h, timeout=timeout)

    def raw(self, method, path, headers=None, body=b"", timeout=30, chunked=False):
        return raw_request(self.port, method, path, headers, body, timeout, chunked)


def _read_response(f, method):
    line = f.readline(65536)
    if not line:
        raise ConnectionError("connection closed before a response")
    parts = line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline(65536).decode("latin-1")
        if h in ("\r\n", "\n", ""):
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status == 100:
        return status, headers, b""
    body = b""
    if method == "HEAD" or status in (204, 304):
        return status, headers, body
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().strip().split(b";")[0], 16)
            if size == 0:
                f.readline()
                break
            body += f.read(size)
            f.readline()
    else:
        body = f.read()
    return status, headers, body


def write_body(sock, body, chunked, step=65536):
    """Writes a request body, chunked (RFC 9112 §7.1, step-sized chunks) or as is.  A
    connection the server closed (or the reader shut down) ends the writing: the answer may
    already be waiting to be read."""
    try:
        if chunked:
            for i in range(0, len(body), step):
                piece = body[i:i + step]
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        else:
            sock.sendall(body)
    except OSError:
        pass


def raw_request(port, method, path, headers=None, body=b"", timeout=30, chunked=False):
    """One request on a fresh connection, written by hand.  A body is announced with
    Expect: 100-continue, so a server that answers from the headers alone (401, 413, ...)
    is heard without pushing the body at it.  Returns (status, headers, body)."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    hdrs = dict(headers or {})
    if body or chunked:
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        else:
            hdrs.setdefault("Content-Length", str(len(body)))
        hdrs.setdefault("Expect", "100-continue")
    for k, v in hdrs.items():
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        f = s.makefile("rb")
        if body or chunked:
            status, rh, rb = _read_response(f, method)
            if status != 100:
                return status, rh, rb
            write_body(s, body, chunked)
        return _read_response(f, method)


def problem(test, status, headers, body, want_status, code=None):
    """Asserts a problem document with the given status (and type code)."""
    test.assertEqual(status, want_status, body[:300])
    test.assertTrue(headers.get("content-type", "").startswith("application/problem+json"),
                    headers)
    doc = json.loads(body)
    test.assertEqual(doc["status"], want_status)
    test.assertTrue(doc["type"].startswith("https://roomstate.dev/problems/"), doc)
    test.assertTrue(doc.get("title"))
    if code:
        test.assertEqual(doc["type"], "https://roomstate.dev/problems/" + code, doc)
    return doc
