"""A fleet of relays (issue 10): the real roomstate-server (migrated SQLite), 3 real
roomstate-relay processes with leases and checkpoints, and the real HAProxy 2.6 with
deploy/haproxy/relays.cfg in front; 30 rooms of 4 players each through the proxy, exchanging
REP_TRANSFORM (2 Hz each player) and REP_PROPERTY (a counter written every 100 ms by each
room's host).  Players follow the documented reconnect rule (asyncapi.yaml "Reconnecting"):
on 1012 moved, 4410 lease_lost, 4503 room_unavailable or a lost connection they reconnect to
the same URL with back-off, ask for a snapshot, and go on.

- spread: rooms land on all 3 relays, each room on exactly one (lease holder = the relay
  whose rooms_hosted counts it; the counts add up to 30);
- SIGTERM one relay: each of its rooms is served elsewhere within 5 s, its registry (objects
  of all three persist modes, owners, holders, properties) equals the one before, the host
  is unchanged, the relay exits 0 within its drain bound;
- kill -9 one relay: its rooms come back within lease + 5 s, at most one checkpoint
  interval of counter values lost;
- rolling restart of all relays: every room's registry unchanged;
- SIGSTOP one relay past its lease, then SIGCONT: its rooms moved (new fence), it serves
  none of them again (rooms_hosted 0, a direct join gets no WELCOME), its stale checkpoints
  were refused (each room's stored checkpoint carries the new holder's fence), and the
  rooms_hosted of all relays add up to 30 (no room on two relays);
- tools/fleet-local starts server, relays and proxy, names their pids and ports, serves a
  room through the proxy and stops every child on SIGTERM.
Every wait is bounded and on a condition: checkpoints stored (the server's
checkpointed_at_ms), HAProxy's own view of its servers (its stats socket), a relay's
/metrics, a player's WELCOME."""
import asyncio
import json
import os
import shutil
import signal
import socket
import time
import unittest

import harness
import services
from relayclient import MANIFEST, OP, TRANSFORM, Relay, RelayClient, run, uid
from test_server_fixture import SERVICE_KEY, SESSION_KEY, Server

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TEMPLATE = os.path.join(ROOT, "deploy", "haproxy", "relays.cfg")
ROOMS = 30
PLAYERS = 4
LEASE_MS = 2000
CKPT_MS = 1000
CHECK_MS = 300
DRAIN_MS = 5000
COUNTER_MANIFEST = {"properties": {"count": {"tier": "reliable_on_change"}}}
RECONNECT_CODES = (1001, 1006, 1011, 1012, 4410, 4503)  # asyncapi.yaml "Reconnecting"


def render_haproxy(bind, relays, stats_socket=None):
    with open(TEMPLATE) as f:
        t = f.read()
    servers = "\n".join(f"    server {name} 127.0.0.1:{port}" for name, port in relays)
    if stats_socket:  # the tests ask HAProxy which relays it sees up
        t = t.replace("global\n", f"global\n    stats socket {stats_socket} mode 600 level user\n",
                      1)
    return (t.replace("{{BIND}}", bind).replace("{{CHECK_MS}}", str(CHECK_MS))
            .replace("{{SERVERS}}", servers))


def haproxy_up(sock_path):
    """{server name: True when HAProxy's health checks have it UP}, from its stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    col = {n: i for i, n in enumerate(head)}
    out = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > col["status"] and f[col["pxname"]] == "relays" and \
                f[col["svname"]] not in ("BACKEND", "FRONTEND"):
            out[f[col["svname"]]] = f[col["status"]].startswith("UP")
    return out


async def until(pred, timeout, what, interval=0.1):
    """Bounded wait on a condition without blocking the event loop (the players go on)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


class FleetRelay:
    """One relay slot: a fixed port, restartable; instance id r<i>-<start count>."""

    def __init__(self, fleet, i):
        self.fleet, self.i = fleet, i
        self.port = harness.free_port()
        self.starts = 0
        self.proc = None
        self.procs = []

    def start(self):
        self.starts += 1
        self.instance = f"r{self.i}-{self.starts}"
        f = self.fleet
        args = [harness.binary("roomstate-relay"), "--listen", f"127.0.0.1:{self.port}",
                "--nakama-key-file", f.key_file, "--service-key-file", f.svc_file,
                "--server-url", f"http://127.0.0.1:{f.server.port}", "--lease-ttl-ms",
                str(LEASE_MS), "--checkpoint-interval-ms", str(CKPT_MS), "--drain-timeout-ms",
                str(DRAIN_MS), "--instance-id", self.instance, "--grace", "20s",
                "--log-level", "info"]
        self.proc = harness.Proc(args, env={"NAKAMA_SESSION_KEY": "", "ROOMSTATE_SERVER_URL": ""},
                                 log_path=os.path.join(f.dir, f"relay{self.i}-{self.starts}.log"))
        self.procs.append(self.proc)
        harness.wait_until(lambda: harness.port_open(self.port) or not self.proc.alive(),
                           timeout=10, what="relay listening")
        if not self.proc.alive():
            raise AssertionError("relay did not start:\n" + self.proc.output())

    def signal(self, sig):
        self.proc.p.send_signal(sig)

    def wait_exit(self, timeout):
        return self.proc.p.wait(timeout)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        """/metrics of the players' port as {series: value}: the fleet's figures carry no
        room or user label, so the public port has them."""
        return Relay.metrics(self, public=True)

    def hosted(self):
        return int(self.metrics()["roomstate_relay_rooms_hosted"])

    def stop(self):
        if self.proc and self.proc.alive():
            try:
                os.kill(self.proc.p.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.stop(timeout=DRAIN_MS / 1000 + 5)
        for p in self.procs:
            with open(p.log_path, "rb") as fh:
                log = fh.read().decode("utf-8", "replace")
            if "Sanitizer" in log or "runtime error:" in log:
                raise AssertionError(f"sanitizer report in a relay log:\n{log[-4000:]}")


class Fleet:
    def __init__(self, test, n=3):
        self.dir = harness.tmpdir(test)
        self.server = Server(test, args=["--threads", "4"])
        self.key_file = os.path.join(self.dir, "nakama.key")
        self.svc_file = os.path.join(self.dir, "service.key")
        for path, value in ((self.key_file, SESSION_KEY), (self.svc_file, SERVICE_KEY)):
            with open(path, "w") as f:
                f.write(value + "\n")
        self.svc_token = harness.token(service="roomstate-test", service_key=SERVICE_KEY)
        st, _, _ = harness.http("POST", self.server.url("/rooms/fleet-probe/lease"),
                                body=json.dumps({"holder": "probe", "ttl_ms": 1000}).encode(),
                                headers={"Authorization": "Bearer " + self.svc_token,
                                         "Content-Type": "application/json"})
        test.assertEqual(st, 200, "roomstate-server's lease endpoint")
        self.relays = [FleetRelay(self, i) for i in range(n)]
        for r in self.relays:
            test.addCleanup(r.stop)
            r.start()
        self.port = harness.free_port()
        self.stats = os.path.join(self.dir, "haproxy.sock")
        services.haproxy(test, render_haproxy(f"127.0.0.1:{self.port}",
                                              [(f"r{r.i}", r.port) for r in self.relays],
                                              self.stats),
                         [self.port])
        self.tokens = {}

    def token(self, n):
        if n not in self.tokens:
            self.tokens[n] = harness.token(uid=uid(n), username=f"player{n}", key=SESSION_KEY)
        return self.tokens[n]

    def get(self, room, what):
        st, _, body = harness.http("GET", self.server.url(f"/rooms/{room}/{what}"),
                                   headers={"Authorization": "Bearer " + self.svc_token},
                                   timeout=5)
        return st, (json.loads(body) if st == 200 else None)

    def checkpointed_since(self, rooms, wall_ms):
        """True when every room has a stored checkpoint written at or after wall_ms."""
        for r in rooms:
            st, ck = self.get(r.id, "checkpoint")
            if st != 200 or ck["checkpointed_at_ms"] < wall_ms:
                return False
        return True

    def holder(self, room):
        """The relay holding the room's lease (None when nobody does)."""
        st, lease = self.get(room, "lease")
        if st != 200:
            return None
        for r in self.relays:
            if r.proc and lease["holder"] == r.instance:
                return r
        return None


class Player:
    """A client that follows the reconnect rule and asks for a snapshot after every WELCOME.
    The host (n == 1) writes the room's counter every 100 ms while `writing`."""

    def __init__(self, fleet, room, n):
        self.fleet, self.room, self.n = fleet, room, n
        self.c = None
        self.welcomes = []  # (monotonic time, WELCOME)
        self.closes = []  # (monotonic time, code, reason)
        self.snapshots = []  # (objects, manifests) after each WELCOME
        self.ready = asyncio.Event()
        self.stopped = False
        self.seq = 0
        self.sent = []  # (monotonic time, counter value) the host sent
        self.writing = False
        self.counter_idle = False  # the counter loop saw `writing` off: no send in progress
        self.ctr_epoch = None

    async def connect_once(self):
        back = 0.1
        deadline = time.monotonic() + 30
        while True:
            try:
                c = await RelayClient(self.fleet.port, self.room, uid(self.n), f"player{self.n}",
                                      token=self.fleet.token(self.n)).connect(timeout=5)
                w = await c.expect(op=OP["WELCOME"], timeout=15)
                return c, w
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(back)  # back-off (asyncapi.yaml): from 100 ms, doubling
                back = min(back * 2, 1.0)

    async def snapshot(self, c):
        await c.send({"op": OP["SNAPSHOT_REQUEST"]})
        done = await c.expect(op=OP["SNAPSHOT_DONE"], timeout=10)
        objects, manifests = {}, {}
        for m in c.take_all(OP["SNAPSHOT_CHUNK"]):
            if m["snapshot"] == done["snapshot"]:
                manifests.update(m["manifests"])
                for o in m["objects"]:
                    objects[o["object_id"]] = o
        return objects, manifests

    async def supervise(self):
        while not self.stopped:
            c, w = await self.connect_once()
            self.c = c
            self.welcomes.append((time.monotonic(), w))
            if w["restored"] or len(self.welcomes) > 1:
                self.snapshots.append(await self.snapshot(c))
            self.ready.set()
            await c.wait_closed(timeout=3600)
            self.ready.clear()
            self.closes.append((time.monotonic(), c.close_code, c.close_reason))
            if c.close_code not in RECONNECT_CODES:
                return

    async def transforms(self):
        while not self.stopped:
            if self.ready.is_set() and not self.c.closed:
                self.seq += 1
                try:
                    await self.c.send({"op": OP["REP_TRANSFORM"], "seq": self.seq,
                                       "head": {"p": [self.n, 1.7, 0], "r": [0, 0, 0, 1]}})
                except Exception:
                    pass
                # drop what piles up (the tests look at snapshots, not live traffic)
                self.c.take_all(OP["REP_TRANSFORM"])
                self.c.take_all(OP["REP_PROPERTY"])
            await asyncio.sleep(0.5)

    async def counter(self):
        value = 0
        while not self.stopped:
            if self.writing and self.ready.is_set() and not self.c.closed:
                value += 1
                self.seq += 1
                try:
                    await self.c.send({"op": OP["REP_PROPERTY"], "object_id": "ctr",
                                       "seq": self.seq, "epoch": self.ctr_epoch,
                                       "name": "count", "value": value})
                    self.sent.append((time.monotonic(), value))
                except Exception:
                    pass
            else:
                self.counter_idle = not self.writing
            await asyncio.sleep(0.1)


class Room:
    def __init__(self, fleet, k):
        self.id = f"fleet-{k}"
        self.players = [Player(fleet, self.id, n) for n in range(1, PLAYERS + 1)]
        self.host = self.players[0]
        self.tasks = []

    async def start(self):
        for p in self.players:  # in join order: player1 is the host
            self.tasks.append(asyncio.ensure_future(p.supervise()))
            await asyncio.wait_for(p.ready.wait(), 30)
        h, g, t = (p.c for p in self.players[:3])
        await h.send({"op": OP["MANIFEST_REGISTER"], "manifest_id": "crate_v1", **MANIFEST})
        await h.send({"op": OP["MANIFEST_REGISTER"], "manifest_id": "ctr_v1",
                      **COUNTER_MANIFEST})
        for oid, mode, mid, props in (("saved", "placed_saved", "crate_v1",
                                       {"color": "#112233", "label": "keep"}),
                                      ("placed", "placed_room", "crate_v1", {"color": "#00ff00"}),
                                      ("ctr", "placed_room", "ctr_v1", {"count": 0})):
            await h.send({"op": OP["OBJECT_SPAWN"], "object_id": oid, "manifest_id": mid,
                          "persist_mode": mode, "transform": TRANSFORM, "properties": props})
            sp = await h.expect(op=OP["OBJECT_SPAWN"], object_id=oid)
        self.host.ctr_epoch = sp["epoch"]
        await g.send({"op": OP["OBJECT_SPAWN"], "object_id": "held", "manifest_id": "crate_v1",
                      "persist_mode": "transient_held", "transform": TRANSFORM, "held": True})
        await g.expect(op=OP["OBJECT_SPAWN"], object_id="held")
        await t.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "placed"})
        gr = await t.expect(op=OP["OWNERSHIP_GRANTED"], object_id="placed")
        await t.send({"op": OP["REP_PROPERTY"], "object_id": "placed", "seq": 1,
                      "epoch": gr["epoch"], "name": "color", "value": "#abcdef"})
        await h.expect(op=OP["REP_PROPERTY"], object_id="placed", timeout=10)
        for p in self.players:
            self.tasks.append(asyncio.ensure_future(p.transforms()))
        self.tasks.append(asyncio.ensure_future(self.host.counter()))
        self.host.writing = True

    async def settle(self):
        """Stops the counter and waits (bounded) until the room's last value reached the
        other players: the relay has it."""
        self.host.counter_idle = False
        self.host.writing = False
        await until(lambda: self.host.counter_idle, 5, f"{self.id}: the counter stopped")
        if not self.host.sent:
            return
        last = self.host.sent[-1][1]
        g = self.players[1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(m.get("op") == OP["REP_PROPERTY"] and m.get("object_id") == "ctr"
                   and m.get("value") == last for m in g.c.seen[-50:]):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.id}: counter {last} never reached player2")

    async def registry(self):
        """The room as the host's fresh snapshot shows it."""
        await asyncio.wait_for(self.host.ready.wait(), 30)
        return await self.host.snapshot(self.host.c)

    async def stop(self):
        for p in self.players:
            p.stopped = True
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*(p.c.close() for p in self.players if p.c),
                             return_exceptions=True)


class RelayFleet(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.rooms = []

    def run_rooms(self, coro, timeout):
        """Runs a test coroutine with a bound; whatever happens, every player's loops are
        told to stop and their tasks cancelled, so that no loop outlives the test (a
        cancellation that asyncio.wait_for swallows would otherwise keep asyncio.run
        waiting for ever)."""
        async def bounded():
            try:
                return await coro
            finally:
                for r in self.rooms:
                    for p in r.players:
                        p.stopped = True
                        p.writing = False
                    for t in r.tasks:
                        t.cancel()
        run(bounded(), timeout=timeout)

    async def start_rooms(self):
        rooms = [Room(self.fleet, k) for k in range(ROOMS)]
        self.rooms.extend(rooms)
        for i in range(0, ROOMS, 10):  # ten rooms at a time
            await asyncio.gather(*(r.start() for r in rooms[i:i + 10]))
        return rooms

    def placement(self, rooms):
        """room id -> FleetRelay, checked: every room on exactly one relay."""
        where = {r.id: self.fleet.holder(r.id) for r in rooms}
        self.assertNotIn(None, where.values(), where)
        live = [r for r in self.fleet.relays if r.proc.alive()]
        hosted = {r.i: r.hosted() for r in live}
        for r in live:
            self.assertEqual(hosted[r.i], sum(1 for x in where.values() if x is r),
                             f"relay {r.i}: rooms_hosted vs lease holders")
        self.assertEqual(sum(hosted.values()), len(rooms), hosted)
        return where

    def assert_same_registry(self, before, after, room):
        ob, mb = before
        oa, ma = after
        self.assertEqual(ma, mb, f"{room}: manifests")
        self.assertEqual(sorted(oa), sorted(ob), f"{room}: object ids")
        for oid in ob:
            self.assertEqual(oa[oid], ob[oid], f"{room}: object {oid}")

    async def wait_moved(self, rooms, since, bound):
        """Every room's host got a new WELCOME after `since` within `bound` seconds; returns
        the delays."""
        delays = {}
        deadline = since + bound
        for r in rooms:
            while True:
                later = [t for t, _ in r.host.welcomes if t > since]
                if later and r.host.ready.is_set():
                    delays[r.id] = later[0] - since
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{r.id} not served again within {bound} s; host "
                                         f"closes {r.host.closes[-3:]}")
                await asyncio.sleep(0.05)
        return delays

    def test_spread_and_drain(self):
        def all_written():
            return sum(r.metrics()["roomstate_relay_checkpoints_written_total"]
                       for r in self.fleet.relays)

        async def go():
            rooms = await self.start_rooms()
            w0, t_start = all_written(), time.monotonic()
            # every room checkpointed once its counter runs (the relays write them by now)
            since = time.time() * 1000
            await until(lambda: self.fleet.checkpointed_since(rooms, since), 15,
                        "a checkpoint of every room")
            rate = (all_written() - w0) / len(rooms) / (time.monotonic() - t_start)
            where = self.placement(rooms)
            self.assertEqual(len({r.i for r in where.values()}), 3, "rooms on all 3 relays")
            victim = where[rooms[0].id]
            moved = [r for r in rooms if where[r.id] is victim]
            await asyncio.gather(*(r.settle() for r in moved))
            before = {r.id: await r.registry() for r in moved}
            t0 = time.monotonic()
            victim.signal(signal.SIGTERM)
            delays = await self.wait_moved(moved, t0, 5.0)
            self.assertEqual(victim.wait_exit(DRAIN_MS / 1000 + 2), 0)
            for r in moved:
                self.assertIn((1012, "moved"), [(c, why) for _, c, why in r.host.closes])
                w = [w for t, w in r.host.welcomes if t > t0][0]
                self.assertEqual(w["host_id"], uid(1), r.id)  # host unchanged
                self.assertEqual(w["restored_from"], "checkpoint", r.id)
                self.assertTrue(w["resumed"], r.id)
                self.assert_same_registry(before[r.id], await r.registry(), r.id)
                # a late joiner's snapshot is that registry too
                late = Player(self.fleet, r.id, 9)
                c, lw = await late.connect_once()
                self.assertEqual(lw["host_id"], uid(1))
                self.assert_same_registry(before[r.id], await late.snapshot(c), r.id)
                await c.close()
            self.assertLess(max(delays.values()), 5.0)
            where = self.placement(rooms)
            self.assertNotIn(victim, where.values())
            m = {r.i: r.metrics() for r in self.fleet.relays if r.proc.alive()}
            self.assertEqual(sum(x["roomstate_relay_rooms_restored_checkpoint_total"]
                                 for x in m.values()), len(moved))
            written = sum(x["roomstate_relay_checkpoints_written_total"] for x in m.values())
            self.assertGreater(written, 0)
            ck_bytes = sum(x["roomstate_relay_checkpoint_bytes_total"] for x in m.values())
            ck_s = sum(x["roomstate_relay_checkpoint_seconds_sum"] for x in m.values())
            await asyncio.gather(*(r.stop() for r in rooms))
            print(f"\n  drain: {len(moved)} rooms moved, served again after "
                  f"median {sorted(delays.values())[len(delays) // 2]:.2f} s, "
                  f"max {max(delays.values()):.2f} s; checkpoints: {ck_bytes / written:.0f} "
                  f"bytes and {ck_s / written * 1000:.1f} ms each (the 2 other relays), "
                  f"{rate:.2f}/s per changing room")

        self.run_rooms(go(), timeout=120)

    def test_kill9_loses_at_most_one_interval(self):
        async def go():
            rooms = await self.start_rooms()
            # counters running, and every room checkpointed since
            since = time.time() * 1000
            await until(lambda: self.fleet.checkpointed_since(rooms, since), 15,
                        "a checkpoint of every room with its counter running")
            where = self.placement(rooms)
            victim = where[rooms[0].id]
            moved = [r for r in rooms if where[r.id] is victim]
            t0 = time.monotonic()
            victim.signal(signal.SIGKILL)
            victim.wait_exit(5)
            last = {r.id: max([v for t, v in r.host.sent if t < t0] or [0]) for r in moved}
            delays = await self.wait_moved(moved, t0, LEASE_MS / 1000 + 5)
            lost = {}
            for r in moved:
                objects, _ = r.host.snapshots[-1]  # its first snapshot after coming back
                restored = objects["ctr"]["properties"]["count"]
                lost[r.id] = last[r.id] - restored
                self.assertGreaterEqual(lost[r.id], 0, r.id)
                # one checkpoint interval of 100 ms writes, +2 for the tick and the write
                self.assertLessEqual(lost[r.id], CKPT_MS // 100 + 2, r.id)
                self.assertIn("held", objects)  # every persist mode came back
                self.assertIn("placed", objects)
                self.assertEqual(objects["placed"]["held_by"], uid(3))
                self.assertEqual(objects["placed"]["properties"]["color"], "#abcdef")
            where = self.placement(rooms)
            self.assertNotIn(victim, where.values())
            taken = sum(r.metrics()["roomstate_relay_leases_taken_over_total"]
                        for r in self.fleet.relays if r.proc.alive())
            self.assertGreaterEqual(taken, len(moved))
            await asyncio.gather(*(r.stop() for r in rooms))
            print(f"\n  kill -9: {len(moved)} rooms back after median "
                  f"{sorted(delays.values())[len(delays) // 2]:.2f} s, max "
                  f"{max(delays.values()):.2f} s; counter values lost max {max(lost.values())}")

        self.run_rooms(go(), timeout=120)

    def test_rolling_restart_loses_nothing(self):
        async def go():
            rooms = await self.start_rooms()
            await asyncio.gather(*(r.settle() for r in rooms))
            before = {r.id: await r.registry() for r in rooms}
            for relay in self.fleet.relays:
                where = self.placement(rooms)
                moved = [r for r in rooms if where[r.id] is relay]
                t0 = time.monotonic()
                relay.signal(signal.SIGTERM)
                self.assertEqual(relay.wait_exit(DRAIN_MS / 1000 + 2), 0)
                await self.wait_moved(moved, t0, 5.0)
                relay.start()
                # ready again, and HAProxy's checks have it up, before the next one goes
                await until(lambda: harness.http(
                    "GET", f"http://127.0.0.1:{relay.port}/readyz")[0] == 200, 10,
                    f"relay {relay.i} ready")
                await until(lambda: haproxy_up(self.fleet.stats).get(f"r{relay.i}"), 15,
                            f"HAProxy to see relay {relay.i} up")
            for r in rooms:
                self.assert_same_registry(before[r.id], await r.registry(), r.id)
                self.assertEqual(r.host.welcomes[-1][1]["host_id"], uid(1))
            self.placement(rooms)
            await asyncio.gather(*(r.stop() for r in rooms))

        self.run_rooms(go(), timeout=150)

    def test_sigstop_past_lease_is_fenced(self):
        async def go():
            rooms = await self.start_rooms()
            since = time.time() * 1000
            await until(lambda: self.fleet.checkpointed_since(rooms, since), 15,
                        "a checkpoint of every room")
            where = self.placement(rooms)
            victim = where[rooms[0].id]
            moved = [r for r in rooms if where[r.id] is victim]
            old_fence = {r.id: self.fleet.get(r.id, "lease")[1]["fence"] for r in moved}
            t0 = time.monotonic()
            victim.signal(signal.SIGSTOP)
            # HAProxy marks it down and cuts its sessions; the players come back elsewhere
            # once its leases ran out
            await self.wait_moved(moved, t0, LEASE_MS / 1000 + 5)
            for r in moved:
                st, lease = self.fleet.get(r.id, "lease")
                self.assertEqual(st, 200)
                self.assertGreater(lease["fence"], old_fence[r.id])
                self.assertNotEqual(lease["holder"], victim.instance)
            victim.signal(signal.SIGCONT)
            harness.wait_until(lambda: victim.hosted() == 0 and
                               victim.metrics()["roomstate_relay_leases_lost_total"]
                               >= len(moved), timeout=5, what="the paused relay gave up")
            # a player sent straight to it is not served (another relay holds the lease)
            direct = RelayClient(victim.port, moved[0].id, uid(7), "player7",
                                 token=self.fleet.token(7))
            await direct.connect()
            await direct.expect_none(op=OP["WELCOME"], within=1.0)
            await direct.close()
            # its stale checkpoints were refused: once the new holders wrote theirs, the
            # stored ones carry the new fences and stay so (the paused relay gave up above)
            def new_fences():
                for r in moved:
                    st, ck = self.fleet.get(r.id, "checkpoint")
                    _, lease = self.fleet.get(r.id, "lease")
                    if st != 200 or ck["fence"] != lease["fence"]:
                        return False
                return True

            await until(new_fences, 15, "the new holders' checkpoints")
            written = victim.metrics()["roomstate_relay_checkpoints_written_total"]
            ck_since = time.time() * 1000
            await until(lambda: self.fleet.checkpointed_since(moved, ck_since), 15,
                        "another checkpoint of every moved room")
            self.assertTrue(new_fences())
            self.assertEqual(victim.metrics()["roomstate_relay_checkpoints_written_total"],
                             written, "the paused relay stored a checkpoint after giving up")
            where = self.placement(rooms)  # rooms_hosted of all three add up to 30
            self.assertNotIn(victim, where.values())
            for r in moved:
                objects, _ = r.host.snapshots[-1]
                self.assertEqual(sorted(objects), ["ctr", "held", "placed", "saved"])
            await asyncio.gather(*(r.stop() for r in rooms))

        self.run_rooms(go(), timeout=120)



class FleetLocal(unittest.TestCase):
    """tools/fleet-local: starts the real server, 2 relays and HAProxy, writes their pids and
    ports, serves a room through the proxy, and stops every child by pid on SIGTERM."""

    def test_launcher(self):
        d = harness.tmpdir(self)
        info_path = os.path.join(d, "fleet.json")
        proxy = harness.free_port()
        proc = harness.Proc([os.path.join(ROOT, "tools", "fleet-local"), "--relays", "2",
                             "--proxy-port", str(proxy), "--json", info_path, "--check-ms",
                             str(CHECK_MS), "--bin", harness.BIN],
                            log_path=os.path.join(d, "fleet-local.log"))
        self.addCleanup(proc.stop)
        harness.wait_until(lambda: os.path.exists(info_path) or not proc.alive(), timeout=30,
                           what="fleet-local's JSON file")
        self.assertTrue(proc.alive(), proc.output())
        with open(info_path) as f:
            info = json.load(f)
        self.addCleanup(shutil.rmtree, info["dir"], True)
        pids = [info["server"]["pid"], info["proxy"]["pid"]] + [r["pid"] for r in info["relays"]]
        self.assertEqual(len(info["relays"]), 2)
        self.assertEqual(info["proxy"]["port"], proxy)
        for port in [info["server"]["port"], proxy] + [r["port"] for r in info["relays"]]:
            self.assertTrue(harness.port_open(port), port)
        for r in info["relays"]:
            st, _, body = harness.http("GET", f"http://127.0.0.1:{r['port']}/readyz")
            self.assertEqual((st, json.loads(body)["status"]), (200, "ready"))
        with open(info["keys"]["nakama_key_file"]) as f:
            key = f.read().strip()

        async def go():
            tok = harness.token(uid=uid(1), username="player1", key=key)
            c = await RelayClient(proxy, "launcher-1", uid(1), "player1", token=tok).connect()
            w = await c.expect(op=OP["WELCOME"])
            self.assertEqual(w["host_id"], uid(1))
            await c.close()

        run(go(), timeout=30)
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.p.wait(30), 0, proc.output())
        for pid in pids:  # every child stopped (and reaped by the launcher)
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)


if __name__ == "__main__":
    unittest.main()
