"""A small asyncio WebSocket client for the relay integration tests, on Debian's
python3-websockets 10.4 (legacy asyncio API).  Every wait is bounded (asyncio.wait_for).

    relay = start_relay(test)                      # the real binary on a free port
    async with RelayClient(relay.port, "room-1", UID1, "alice") as a:
        welcome = await a.expect(op=1)
        await a.send({"op": 10, "object_id": "crate-1"})
        granted = await a.expect(op=11, object_id="crate-1")

The relay may pack several messages into one frame as a JSON array; the client flattens
frames into one message queue.  Messages a test did not ask for stay queued (expect() scans
forward and keeps the others), so order-sensitive tests can look at `seen`."""
import asyncio
import json
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

OP = {
    "WELCOME": 1, "PRESENCE_JOIN": 2, "PRESENCE_LEAVE": 3, "HOST_CHANGED": 4, "ERROR": 5,
    "OWNERSHIP_REQUEST": 10, "OWNERSHIP_GRANTED": 11, "OWNERSHIP_DENIED": 12,
    "OWNERSHIP_RELEASED": 13, "OBJECT_SPAWN": 20, "OBJECT_DESPAWN": 21, "OBJECT_PERSIST": 22,
    "MANIFEST_REGISTER": 25, "REP_TRANSFORM": 30, "REP_OBJECT": 31, "REP_PROPERTY": 32,
    "SNAPSHOT_REQUEST": 40, "SNAPSHOT_CHUNK": 41, "SNAPSHOT_DONE": 42, "SAVE_REQUEST": 50,
    "SAVE_RESULT": 51,
}
WAIT = 10.0  # default bound of every wait, seconds


def uid(n):
    """A canonical UUID for player n (1-based)."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


class Relay:
    """The real roomstate-relay on a free loopback port, stopped by pid at cleanup."""

    def __init__(self, test, extra_args=(), env=None):
        self.port = harness.free_port()
        self.metrics_port = harness.free_port()  # the detailed metrics address
        self.dir = harness.tmpdir(test)
        args = [harness.binary("roomstate-relay"), "--listen", f"127.0.0.1:{self.port}",
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
                "--log-level", "info", *extra_args]
        clean = {"NAKAMA_SESSION_KEY": "", "NAKAMA_SESSION_KEY_FILE": "",
                 "ROOMSTATE_SERVER_URL": "", "PORT": ""}
        clean.update(env or {})
        self.proc = harness.Proc(args, env=clean,
                                 log_path=os.path.join(self.dir, "relay.log"))
        test.addCleanup(self.stop)
        harness.wait_until(lambda: harness.port_open(self.port) or not self.proc.alive(),
                           timeout=10, what="relay listening")
        if not self.proc.alive():
            raise AssertionError("relay did not start:\n" + self.proc.output())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, room):
        return f"ws://127.0.0.1:{self.port}/rooms/{room}"

    def alive(self):
        return self.proc.alive()

    def log(self):
        with open(self.proc.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill9(self):
        """SIGKILL (a crash, for restart tests): the exit code is then not checked at stop,
        the log still is."""
        self.killed = True
        return self.proc.stop(signal.SIGKILL)

    def stop(self):
        """SIGTERM, then checks the exit: 0 (unless kill9 was used) and no sanitizer report
        in the log."""
        if self.proc.p.poll() is None:
            rc = self.proc.stop()
        else:
            try:
                self.proc.log.close()
            except Exception:
                pass
            rc = self.proc.p.returncode
        log = self.log()
        if (rc != 0 and not getattr(self, "killed", False)) or "Sanitizer" in log \
                or "runtime error:" in log:
            raise AssertionError(f"relay exited {rc}; log tail:\n{log[-4000:]}")
        return rc

    def metrics(self, public=False):
        """The detailed metrics (per room and client) from the metrics address, or with
        public=True the totals the players' port serves."""
        base = self.url if public else f"http://127.0.0.1:{self.metrics_port}"
        status, _, body = harness.http("GET", base + "/metrics")
        assert status == 200, status
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


class Closed(Exception):
    pass


def _short(messages):
    """Messages for an error text, each cut at 300 characters."""
    return [str(m)[:300] for m in messages]


class RelayClient:
    def __init__(self, port, room, user_id, username="player", token=None, query=False,
                 headers=None):
        self.port = port
        self.room = room
        self.user_id = user_id
        self.username = username
        self.token = token if token is not None else harness.token(uid=user_id,
                                                                   username=username)
        self.query = query
        self.headers = headers
        self.ws = None
        self.queue = []  # messages received and not yet taken by expect()
        self.seen = []  # every message received, in order
        self.frames = []  # raw frames (text) in order
        self.sent = []  # messages this client sent (dicts only)
        self.close_code = None
        self.close_reason = None
        self._arrived = asyncio.Event()
        self._reader = None

    async def connect(self, timeout=WAIT):
        url = f"ws://127.0.0.1:{self.port}/rooms/{self.room}"
        headers = dict(self.headers or {})
        if self.query:
            url += f"?token={self.token}"
        elif self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.ws = await asyncio.wait_for(
            websockets.connect(url, extra_headers=headers, max_size=None, ping_interval=None,
                               close_timeout=2, open_timeout=timeout), timeout)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()

    async def _read(self):
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", "replace")
                self.frames.append(frame)
                try:
                    v = json.loads(frame)
                except ValueError:
                    v = {"op": None, "_unparsed": frame}
                for m in (v if isinstance(v, list) else [v]):
                    self.queue.append(m)
                    self.seen.append(m)
                self._arrived.set()
        except websockets.exceptions.ConnectionClosed:
            pass
        except Exception as e:  # keep the failure visible
            self.queue.append({"op": None, "_reader_error": repr(e)})
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self._arrived.set()

    @property
    def closed(self):
        return self._reader is not None and self._reader.done()

    async def send(self, msg):
        """Sends a dict/list as JSON text, a str as text, bytes as a binary frame."""
        if isinstance(msg, dict):
            self.sent.append(msg)
        if isinstance(msg, (dict, list)):
            msg = json.dumps(msg)
        await asyncio.wait_for(self.ws.send(msg), WAIT)

    def _match(self, m, op, fields, pred):
        if op is not None and m.get("op") != op:
            return False
        for k, v in fields.items():
            if m.get(k) != v:
                return False
        return pred is None or pred(m)

    async def expect(self, op=None, pred=None, timeout=WAIT, **fields):
        """Waits for (and takes) the first queued message with this op and field values."""
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while True:
            for i, m in enumerate(self.queue):
                if isinstance(m, dict) and self._match(m, op, fields, pred):
                    return self.queue.pop(i)
            if self.closed:
                raise Closed(f"{self.username}: connection closed ({self.close_code} "
                             f"{self.close_reason}) while waiting for op={op} {fields}; "
                             f"queued: {_short(self.queue[-5:])}")
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{self.username}: no op={op} {fields} within {timeout} s;"
                                     f" queued: {_short(self.queue[-8:])}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def expect_none(self, op=None, within=0.5, pred=None, **fields):
        """Asserts that no such message arrives within `within` seconds (a bounded quiet
        period, used only to check that something is NOT delivered)."""
        await asyncio.sleep(within)
        for m in self.queue:
            if isinstance(m, dict) and self._match(m, op, fields, pred):
                raise AssertionError(f"{self.username}: unexpected {_short([m])}")

    def take_all(self, op=None):
        out = [m for m in self.queue if op is None or m.get("op") == op]
        self.queue = [m for m in self.queue if not (op is None or m.get("op") == op)]
        return out

    async def wait_closed(self, timeout=WAIT):
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code, self.close_reason

    async def close(self, code=1000, reason="bye"):
        if self.ws is None:
            return
        try:
            await asyncio.wait_for(self.ws.close(code, reason), WAIT)
        except Exception:
            pass
        if self._reader:
            try:
                await asyncio.wait_for(self._reader, WAIT)
            except Exception:
                pass

    def vanish(self):
        """Drops the TCP connection without a close frame (RST): a lost network."""
        sock = self.ws.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.ws.transport.abort()


async def wait_seen(c, pred, start=0, timeout=WAIT):
    """Waits (bounded) for the first message in c.seen[start:] matching pred; returns (index,
    message).  Unlike expect() it neither takes messages nor scans the queue, so a test that
    receives thousands of messages can clear c.queue and keep indexes into c.seen."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    i = start
    while True:
        while i < len(c.seen):
            m = c.seen[i]
            if isinstance(m, dict) and pred(m):
                return i, m
            i += 1
        if c.closed:
            raise AssertionError(f"{c.username}: closed ({c.close_code} {c.close_reason})")
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"{c.username}: no such message within {timeout} s; "
                                 f"last: {[str(m)[:200] for m in c.seen[-3:]]}")
        c._arrived.clear()
        try:
            await asyncio.wait_for(c._arrived.wait(), min(left, 0.5))
        except asyncio.TimeoutError:
            pass


async def connect_refused(port, path, headers=None, timeout=WAIT):
    """Tries a handshake that should be refused; returns the HTTP status (or None when the
    connection was accepted, then closes it)."""
    try:
        ws = await asyncio.wait_for(
            websockets.connect(f"ws://127.0.0.1:{port}{path}", extra_headers=headers or {},
                               open_timeout=timeout), timeout)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return None


def run(coro, timeout=120):
    """Runs one test coroutine with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- protocol helpers (one place for message shapes; asyncapi.yaml is the reference) ----
MANIFEST = {"properties": {"color": {"tier": "reliable_on_change"},
                           "label": {"tier": "snapshot_only"},
                           "wobble": {"tier": "high_rate_unreliable"}}}
TRANSFORM = {"position": [0.0, 1.0, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0]}


async def join(port, room, n, first=1, **kw):
    """Connects players first..first+n-1 one after the other (join order = index) and waits
    for each WELCOME."""
    clients = []
    for i in range(first, first + n):
        c = await RelayClient(port, room, uid(i), f"player{i}", **kw).connect()
        c.welcome = await c.expect(op=OP["WELCOME"])
        clients.append(c)
    return clients


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def register_manifest(c, manifest_id="crate_v1", manifest=None):
    await c.send({"op": OP["MANIFEST_REGISTER"], "manifest_id": manifest_id,
                  **(manifest or MANIFEST)})
    return await c.expect(op=OP["MANIFEST_REGISTER"], manifest_id=manifest_id)


async def spawn(c, object_id, persist_mode="placed_room", manifest_id="crate_v1",
                properties=None):
    await c.send({"op": OP["OBJECT_SPAWN"], "object_id": object_id, "manifest_id": manifest_id,
                  "persist_mode": persist_mode, "transform": TRANSFORM,
                  "properties": properties or {"color": "#ff0000"}})
    return await c.expect(op=OP["OBJECT_SPAWN"], object_id=object_id)


async def grab(c, object_id):
    """OWNERSHIP_REQUEST; returns the GRANTED or DENIED the requester got."""
    await c.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": object_id})
    return await c.expect(pred=lambda m: m.get("op") in (OP["OWNERSHIP_GRANTED"],
                                                         OP["OWNERSHIP_DENIED"])
                          and m.get("object_id") == object_id)


def raw_connect(port, room, token, rcvbuf=4096, timeout=WAIT):
    """A WebSocket handshake over a plain blocking socket with a small receive buffer; the
    caller then never reads (a slow consumer) and closes the socket when done."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET /rooms/{room} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise AssertionError(f"handshake closed: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError(f"handshake refused: {head[:100]!r}")
    return s
