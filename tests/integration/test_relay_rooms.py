"""roomstate-relay rooms through real WebSocket clients: 2, 6 and 20 players in one room,
join/leave order, WELCOME, host migration, contention for one object (exactly one grant),
non-owner mutations dropped, cleanup per persist mode, reconnection within and after the
grace, replacement of an older connection, the 21st player refused."""
import asyncio
import unittest

import harness

from relayclient import (OP, TRANSFORM, Relay, RelayClient, close_all, grab, join,
                         raw_connect, register_manifest, run, spawn, uid, wait_seen)


def order(welcome):
    return [p["user_id"] for p in welcome["presences"]]


class TwoClients(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_welcome_join_leave(self):
        async def go():
            a = await RelayClient(self.relay.port, "duo", uid(1), "alice").connect()
            wa = await a.expect(op=OP["WELCOME"])
            self.assertEqual(wa["user_id"], uid(1))
            self.assertEqual(wa["username"], "alice")
            self.assertEqual(wa["room_id"], "duo")
            self.assertEqual(wa["host_id"], uid(1))
            self.assertEqual(order(wa), [uid(1)])
            self.assertEqual(wa["tick_hz"], 20)
            self.assertIs(wa["resumed"], False)
            self.assertIs(wa["restored"], False)
            self.assertIsInstance(wa["session_id"], str)
            b = await RelayClient(self.relay.port, "duo", uid(2), "bob").connect()
            wb = await b.expect(op=OP["WELCOME"])
            self.assertEqual(wb["host_id"], uid(1))
            self.assertEqual(order(wb), [uid(1), uid(2)])
            self.assertNotEqual(wb["session_id"], wa["session_id"])
            self.assertGreater(wb["join_order"], wa["join_order"])
            pj = await a.expect(op=OP["PRESENCE_JOIN"], user_id=uid(2))
            self.assertEqual(pj["username"], "bob")
            self.assertEqual(pj["join_order"], wb["join_order"])
            await b.close()
            pl = await a.expect(op=OP["PRESENCE_LEAVE"], user_id=uid(2))
            self.assertIsInstance(pl["reason"], str)
            # no host change: alice stayed
            await a.expect_none(op=OP["HOST_CHANGED"], within=0.3)
            await a.close()
        run(go())

    def test_rooms_are_independent(self):
        async def go():
            a = await RelayClient(self.relay.port, "room-a", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "room-b", uid(2), "bob").connect()
            wa = await a.expect(op=OP["WELCOME"])
            wb = await b.expect(op=OP["WELCOME"])
            self.assertEqual(wb["host_id"], uid(2))
            self.assertEqual(order(wa), [uid(1)])
            await register_manifest(a)
            await spawn(a, "only-in-a")
            await b.expect_none(op=OP["OBJECT_SPAWN"], within=0.3)
            await b.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "only-in-a"})
            den = await b.expect(op=OP["OWNERSHIP_DENIED"], object_id="only-in-a")
            self.assertEqual(den["reason"], "unknown_object")
            await close_all([a, b])
        run(go())


class SixClients(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_join_order_and_host_migration(self):
        async def go():
            cs = await join(self.relay.port, "six", 6)
            for i, c in enumerate(cs):
                self.assertEqual(order(c.welcome), [uid(k) for k in range(1, i + 2)])
                self.assertEqual(c.welcome["host_id"], uid(1))
            # the host owns what it spawned; after it leaves the next oldest owns it
            await register_manifest(cs[0])
            await spawn(cs[0], "lamp", "placed_room")
            for c in cs[1:]:
                await c.expect(op=OP["OBJECT_SPAWN"], object_id="lamp")
            await cs[0].close()
            for c in cs[1:]:
                hc = await c.expect(op=OP["HOST_CHANGED"])
                self.assertEqual(hc["host_id"], uid(2))
                await c.expect(op=OP["PRESENCE_LEAVE"], user_id=uid(1))
            # player2 (new host) may despawn lamp; player3 may not
            await cs[2].send({"op": OP["OBJECT_DESPAWN"], "object_id": "lamp"})
            err = await cs[2].expect(op=OP["ERROR"])
            self.assertEqual(err["code"], "not_owner")
            await cs[1].send({"op": OP["OBJECT_DESPAWN"], "object_id": "lamp"})
            for c in cs[1:]:
                await c.expect(op=OP["OBJECT_DESPAWN"], object_id="lamp")
            # a second migration: player2 leaves, player3 is host
            await cs[1].close()
            for c in cs[2:]:
                hc = await c.expect(op=OP["HOST_CHANGED"])
                self.assertEqual(hc["host_id"], uid(3))
            late = await RelayClient(self.relay.port, "six", uid(7), "player7").connect()
            wl = await late.expect(op=OP["WELCOME"])
            self.assertEqual(wl["host_id"], uid(3))
            self.assertEqual(order(wl), [uid(3), uid(4), uid(5), uid(6), uid(7)])
            await close_all(cs[2:] + [late])
        run(go())


class TwentyClients(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_full_room_contention_and_21st(self):
        async def go():
            cs = await join(self.relay.port, "twenty", 20)
            self.assertEqual(len(order(cs[-1].welcome)), 20)
            # the 21st is refused with room_full and closed
            extra = await RelayClient(self.relay.port, "twenty", uid(21), "p21").connect()
            code, reason = await extra.wait_closed()
            self.assertEqual((code, reason), (4429, "room_full"))
            self.assertFalse(any(m.get("op") == OP["WELCOME"] for m in extra.seen))
            for c in cs:
                await c.expect_none(op=OP["PRESENCE_JOIN"], user_id=uid(21), within=0.05)
            # contention: the host spawns a prize and lets go; 19 players race for it
            await register_manifest(cs[0])
            sp = await spawn(cs[0], "prize", "placed_room")
            if sp.get("held_by"):
                await cs[0].send({"op": OP["OWNERSHIP_RELEASED"], "object_id": "prize"})
                await cs[0].expect(op=OP["OWNERSHIP_RELEASED"], object_id="prize")
            for c in cs[1:]:
                await c.expect(op=OP["OBJECT_SPAWN"], object_id="prize")
            await asyncio.gather(*(c.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "prize"})
                                   for c in cs[1:]))
            # every client (the host too) sees exactly one grant, all naming the same winner
            grants = await asyncio.gather(*(c.expect(op=OP["OWNERSHIP_GRANTED"],
                                                     object_id="prize") for c in cs))
            winners = {g["held_by"] for g in grants}
            self.assertEqual(len(winners), 1, winners)
            winner = winners.pop()
            self.assertIn(winner, [uid(i) for i in range(2, 21)])
            self.assertEqual({g["owner_id"] for g in grants}, {winner})
            # every other requester is denied: held, by the winner
            for c in cs[1:]:
                if c.user_id == winner:
                    continue
                den = await c.expect(op=OP["OWNERSHIP_DENIED"], object_id="prize")
                self.assertEqual(den["reason"], "held")
                self.assertEqual(den["holder"], winner)
            await asyncio.sleep(0.3)  # bounded quiet period: no second grant arrives
            for c in cs:
                await c.expect_none(op=OP["OWNERSHIP_GRANTED"], object_id="prize", within=0)
            self.assertTrue(self.relay.alive())
            await close_all(cs)
        run(go(), timeout=90)


class TwentyAtTwentyHz(unittest.TestCase):
    def test_twenty_players_for_a_bounded_run(self):
        """20 players send their transforms at about 20 Hz for 3 s and move the object they
        hold; a rogue (player 20) forges REP_OBJECT for everyone else's object.  Everyone
        gets everyone's transforms (a generous band, no timing assertion) and the forgeries
        reach nobody."""
        relay = Relay(self)

        async def go():
            cs = await join(relay.port, "soak", 20)
            await register_manifest(cs[0])
            for i, c in enumerate(cs[:19]):
                await spawn(c, f"obj-{i + 1}", "transient_held")
                g = await grab(c, f"obj-{i + 1}")
                self.assertEqual(g["op"], OP["OWNERSHIP_GRANTED"])
                c.epoch = g["epoch"]
            rogue = cs[19]

            async def player(k, c):
                for t in range(60):
                    seq = t + 1
                    await c.send({"op": OP["REP_TRANSFORM"], "seq": seq,
                                  "head": {"p": [k, 1.7, t / 10], "r": [0, 0, 0, 1]}})
                    if c is not rogue:
                        await c.send({"op": OP["REP_OBJECT"], "object_id": f"obj-{k}",
                                      "seq": seq, "epoch": c.epoch, "transform": TRANSFORM})
                    elif t % 3 == 0:
                        victim = 1 + (t // 3) % 19
                        await c.send({"op": OP["REP_OBJECT"], "object_id": f"obj-{victim}",
                                      "seq": 1000 + seq, "epoch": 1, "transform": TRANSFORM})
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(player(k, c) for k, c in enumerate(cs, start=1)))
            # the newest transform is never coalesced away: wait (bounded) until every
            # player has each other player's last one (seq 60), instead of hoping a pause
            # was long enough for the last tick's batches to arrive
            for c in cs:
                for x in cs:
                    if x is not c:
                        await wait_seen(c, lambda m, u=x.user_id: m.get("op") ==
                                        OP["REP_TRANSFORM"] and m.get("from") == u and
                                        m.get("seq") == 60, timeout=30)
            for c in cs:
                senders = {}
                for m in c.seen:
                    if m.get("op") == OP["REP_TRANSFORM"]:
                        senders[m["from"]] = senders.get(m["from"], 0) + 1
                    if m.get("op") == OP["REP_OBJECT"]:
                        self.assertNotEqual(m["from"], rogue.user_id, "a forgery was relayed")
                others = {x.user_id for x in cs if x is not c}
                self.assertEqual(set(senders), others, c.username)
                # 60 sent over ~3 s, coalesced at 20 Hz: a generous lower bound
                self.assertGreaterEqual(min(senders.values()), 10, c.username)
            self.assertTrue(relay.alive())
            await close_all(cs)
        run(go(), timeout=60)
        m = relay.metrics()
        self.assertGreater(m['roomstate_relay_drops_total{reason="not_owner"}'], 0)


class Reconnection(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self, ["--grace", "1500ms"])

    def test_resume_within_grace(self):
        async def go():
            a, b = await join(self.relay.port, "flaky", 2)
            await register_manifest(a)
            await spawn(a, "mug", "transient_held")
            await grab(a, "mug")
            a.vanish()
            await b.expect_none(op=OP["PRESENCE_LEAVE"], within=0.2)
            a2 = await RelayClient(self.relay.port, "flaky", uid(1), "player1").connect()
            w = await a2.expect(op=OP["WELCOME"])
            self.assertIs(w["resumed"], True)
            self.assertEqual(w["host_id"], uid(1))
            self.assertEqual(w["join_order"], a.welcome["join_order"])
            self.assertEqual(order(w), [uid(1), uid(2)])
            # the seat kept its object: after the grace nothing was despawned
            await b.expect_none(op=OP["OBJECT_DESPAWN"], object_id="mug", within=2.0)
            await b.expect_none(op=OP["PRESENCE_LEAVE"], user_id=uid(1), within=0.0)
            await a2.send({"op": OP["OBJECT_DESPAWN"], "object_id": "mug"})
            await b.expect(op=OP["OBJECT_DESPAWN"], object_id="mug")
            await close_all([a2, b])
        run(go())

    def test_cleanup_after_grace(self):
        async def go():
            a, b = await join(self.relay.port, "gone", 2)
            await register_manifest(a)
            await spawn(a, "cup", "transient_held")
            await grab(a, "cup")
            a.vanish()
            await b.expect(op=OP["PRESENCE_LEAVE"], user_id=uid(1))
            await b.expect(op=OP["OBJECT_DESPAWN"], object_id="cup")
            hc = await b.expect(op=OP["HOST_CHANGED"])
            self.assertEqual(hc["host_id"], uid(2))
            a2 = await RelayClient(self.relay.port, "gone", uid(1), "player1").connect()
            w = await a2.expect(op=OP["WELCOME"])
            self.assertIs(w["resumed"], False)
            self.assertEqual(w["host_id"], uid(2))
            self.assertEqual(order(w), [uid(2), uid(1)])
            await close_all([a2, b])
        run(go())

    def test_replacement_of_older_connection(self):
        async def go():
            a, b = await join(self.relay.port, "twice", 2)
            a2 = await RelayClient(self.relay.port, "twice", uid(1), "player1").connect()
            w = await a2.expect(op=OP["WELCOME"])
            self.assertIs(w["resumed"], True)
            code, reason = await a.wait_closed()
            self.assertEqual((code, reason), (4409, "replaced"))
            await b.expect_none(op=OP["PRESENCE_LEAVE"], user_id=uid(1), within=0.3)
            self.assertEqual(order(w), [uid(1), uid(2)])
            await close_all([a2, b])
        run(go())


class Authority(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_non_owner_mutations_reach_nobody(self):
        async def go():
            h, a, b, c = await join(self.relay.port, "auth", 4)
            await register_manifest(a)
            await spawn(a, "box", "placed_room")
            for x in (h, b, c):
                await x.expect(op=OP["OBJECT_SPAWN"], object_id="box")
            g = await grab(a, "box")
            self.assertEqual(g["op"], OP["OWNERSHIP_GRANTED"])
            epoch = g.get("epoch", 1)
            for x in (h, b, c):
                await x.expect(op=OP["OWNERSHIP_GRANTED"], object_id="box")
            forged = [
                {"op": OP["REP_OBJECT"], "object_id": "box", "seq": 1000, "epoch": epoch,
                 "transform": {"position": [9, 9, 9], "rotation": [0, 0, 0, 1]}},
                {"op": OP["REP_PROPERTY"], "object_id": "box", "seq": 1000, "epoch": epoch,
                 "name": "color", "value": "#badbad"},
                {"op": OP["OBJECT_PERSIST"], "object_id": "box", "persist_mode": "placed_saved"},
                {"op": OP["OBJECT_DESPAWN"], "object_id": "box"},
                {"op": OP["OWNERSHIP_RELEASED"], "object_id": "box"},
            ]
            for m in forged:
                await b.send(m)
            err = await b.expect(op=OP["ERROR"])
            self.assertIn(err["code"], ("not_owner", "not_holder"))
            for x in (h, a, c):
                await x.expect_none(within=0.5, pred=lambda m: m.get("object_id") == "box")
            # positive control: the owner's update reaches the others
            await a.send({"op": OP["REP_PROPERTY"], "object_id": "box", "seq": 1, "epoch": epoch,
                          "name": "color", "value": "#00ff00"})
            for x in (h, c):
                await x.expect(op=OP["REP_PROPERTY"], object_id="box")
            await close_all([h, a, b, c])
        run(go())

    def test_cleanup_per_persist_mode(self):
        async def go():
            h, a, b = await join(self.relay.port, "cleanup", 3)
            await register_manifest(a)
            for oid, mode in (("t", "transient_held"), ("r", "placed_room"),
                              ("s", "placed_saved")):
                await spawn(a, oid, mode)
                g = await grab(a, oid)
                self.assertEqual(g["op"], OP["OWNERSHIP_GRANTED"], g)
            await a.close()  # clean close: cleanup at once
            for x in (h, b):
                await x.expect(op=OP["PRESENCE_LEAVE"], user_id=uid(2))
                await x.expect(op=OP["OBJECT_DESPAWN"], object_id="t")
                await x.expect_none(op=OP["OBJECT_DESPAWN"], within=0.3,
                                    pred=lambda m: m.get("object_id") in ("r", "s"))
            # the placed objects are kept and released to the host: OWNERSHIP_RELEASED
            for x in (h, b):
                for oid in ("r", "s"):
                    rel = await x.expect(op=OP["OWNERSHIP_RELEASED"], object_id=oid,
                                         pred=lambda m: m.get("held_by") is None)
                    self.assertEqual(rel["owner_id"], uid(1))
                    self.assertEqual(rel["reason"], "owner_left")
            for oid in ("r", "s"):
                await h.send({"op": OP["OBJECT_DESPAWN"], "object_id": oid})
                await b.expect(op=OP["OBJECT_DESPAWN"], object_id=oid)
            await close_all([h, b])
        run(go())


def drain_until_closed(sock, timeout=20.0):
    """Reads a raw socket until the peer closes it (EOF or reset), bounded."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass


class SlowConsumer(unittest.TestCase):
    def test_backlog_bound_closes_only_the_slow_client(self):
        relay = Relay(self, ["--max-outbox", "262144"])

        async def go():
            src, fast = await join(relay.port, "slow", 2)
            # the slow client: handshake done, then it never reads
            slow = raw_connect(relay.port, "slow", harness.token(uid=uid(3), username="slow"))
            self.addCleanup(slow.close)
            await src.expect(op=OP["PRESENCE_JOIN"], user_id=uid(3))
            await register_manifest(src)
            await spawn(src, "board", "placed_room")
            g = await grab(src, "board")
            blob = "x" * 12000  # an object must fit a 16 KiB snapshot chunk
            loop = asyncio.get_event_loop()
            deadline = loop.time() + 30
            seq = 0
            closed = False
            while loop.time() < deadline and not closed:
                for _ in range(8):  # 96 KB a round: within the fast client's 256 KiB bound
                    seq += 1
                    await src.send({"op": OP["REP_PROPERTY"], "object_id": "board", "seq": seq,
                                    "epoch": g["epoch"], "name": "color", "value": blob + str(seq)})
                # the fast client keeps up with the reliable stream
                await fast.expect(op=OP["REP_PROPERTY"], object_id="board",
                                  pred=lambda m, s=seq: m["seq"] == s)
                fast.take_all(OP["REP_PROPERTY"])
                if seq % 40 == 0:
                    closed = relay.metrics().get(
                        'roomstate_relay_closes_total{reason="slow_consumer"}', 0) >= 1
            self.assertTrue(closed, "the slow client was never closed as a slow consumer")
            # the relay drops the connection itself (bounded), though the slow client never
            # reads and so never makes its socket writable for the close frame: reading what
            # the kernel still holds ends at the relay's close
            await loop.run_in_executor(None, drain_until_closed, slow)
            # everyone else is told it left (a slow consumer keeps its seat for the grace)
            # and still served
            self.assertFalse(fast.closed)
            await src.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "nope"})
            await src.expect(op=OP["OWNERSHIP_DENIED"], object_id="nope")
            await close_all([src, fast])
        run(go(), timeout=90)


if __name__ == "__main__":
    unittest.main()
