"""Issue 4's replication test through the real relay: 20 players send their head transforms
and move the object they hold at 20 Hz for a bounded run (4 s), change properties (reliable,
high-rate and snapshot-only) and hand objects over (epochs raised); a rogue forges updates
for objects it does not own; a deliberately slow client (a raw socket that never reads) is
connected the whole time; a late joiner arrives mid-run.  Checked:
- every client receives every other client's transforms (and every held object's updates)
  at about 20 Hz, measured per sender over the run (a generous band, no timing assertion),
  the slow client connected throughout (and really backlogged: drops{reason="slow"} moved);
- no REP_OBJECT / REP_PROPERTY from a non-owner reaches anyone: every one received carries
  the owner of its (object, epoch) as `from`, and no forged value arrives;
- the late joiner gets no object-plane message before its snapshot, every SNAPSHOT_CHUNK
  frame is at most 16 KiB, and its registry (snapshot, then the live messages after
  SNAPSHOT_DONE, which include REP_OBJECT and REP_PROPERTY) ends equal to the registry the
  test tracked from the live messages: ids, manifests, owners, holders, epochs, transforms,
  property values (snapshot_only ones included, which only a snapshot carries);
- after the run a second joiner's snapshot alone equals that registry exactly (seq too)."""
import asyncio
import json
import unittest

import harness

from relayclient import (OP, Relay, RelayClient, close_all, join, raw_connect, run, uid,
                         wait_seen)

TICK_S = 0.05
TICKS = 80  # 4 s at 20 Hz
WINDOW = (10, TICKS - 4)  # rates measured over these ticks (the slow client is connected)
MIN_HZ = 12.0  # generous lower band for an expected ~20 Hz: each receiver's average
FLOOR_HZ = 8.0  # and every single (receiver, sender) pair
BIG = 20  # idle objects of 12 KB
SLOW_REQUESTS = 40  # snapshots (~240 KB each) the slow client asks for and never reads
JOIN_TICK = 30  # the late joiner arrives here
FORGED = "#f0f0f0"  # a value only the rogue sends
MANIFEST = {"properties": {"color": {"tier": "reliable_on_change"},
                           "label": {"tier": "snapshot_only"},
                           "wobble": {"tier": "high_rate_unreliable"}}}
OBJECT_PLANE = {OP[n] for n in ("OWNERSHIP_GRANTED", "OWNERSHIP_RELEASED", "OBJECT_SPAWN",
                                "OBJECT_DESPAWN", "OBJECT_PERSIST", "MANIFEST_REGISTER",
                                "REP_OBJECT", "REP_PROPERTY")}


def ws_text_frame(text):
    """A masked client text frame (mask key 0: the payload is unchanged)."""
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data


class Registry:
    """A client's view of the room, built from the messages it received, in order."""

    def __init__(self):
        self.manifests = {}
        self.objects = {}
        self.epoch_owner = {}  # (object_id, epoch) -> owner at that epoch
        self.epoch_mismatch = []  # REP_* whose epoch was not the object's current one

    def load_snapshot(self, chunks):
        for ch in sorted(chunks, key=lambda c: c["index"]):
            self.manifests.update(ch["manifests"])
            for o in ch["objects"]:
                self.objects[o["object_id"]] = json.loads(json.dumps(o))
                self.epoch_owner[(o["object_id"], o["epoch"])] = o["owner_id"]

    def apply(self, m):
        op = m.get("op")
        o = self.objects.get(m.get("object_id"))
        if op == OP["MANIFEST_REGISTER"]:
            self.manifests[m["manifest_id"]] = {"properties": m["properties"]}
        elif op == OP["OBJECT_SPAWN"]:
            o = {k: v for k, v in m.items() if k not in ("op", "by")}
            self.objects[m["object_id"]] = o
            self.epoch_owner[(m["object_id"], m["epoch"])] = m["owner_id"]
        elif op == OP["OBJECT_DESPAWN"]:
            self.objects.pop(m["object_id"], None)
        elif op in (OP["OWNERSHIP_GRANTED"], OP["OWNERSHIP_RELEASED"]) and o is not None:
            o["owner_id"], o["held_by"], o["epoch"] = m["owner_id"], m["held_by"], m["epoch"]
            self.epoch_owner[(m["object_id"], m["epoch"])] = m["owner_id"]
            if op == OP["OWNERSHIP_RELEASED"]:
                o["transform"], o["placed"] = m["transform"], m["placed"]
                o["persist_mode"] = m["persist_mode"]
        elif op == OP["OBJECT_PERSIST"] and o is not None:
            o["persist_mode"] = m["persist_mode"]
        elif op in (OP["REP_OBJECT"], OP["REP_PROPERTY"]) and o is not None:
            if m["epoch"] != o["epoch"]:
                self.epoch_mismatch.append(m)
                return
            o["seq"] = max(o["seq"], m["seq"])  # streams of one batch are not in seq order
            if op == OP["REP_OBJECT"]:
                o["transform"].update(m["transform"])
            else:
                o["properties"][m["name"]] = m["value"]


class Player:
    def __init__(self, k, client):
        self.k = k
        self.c = client
        self.held = {}  # object_id -> epoch this player replicates it with
        self.marks = []  # (tick, len(c.seen)) at each tick: rates over a window


class Replication(unittest.TestCase):
    def test_twenty_players_late_joiner_slow_client(self):
        relay = Relay(self, ["--max-players", "24", "--max-outbox", "67108864"])
        late_token = harness.token(uid=uid(21), username="late")
        final_token = harness.token(uid=uid(22), username="final")
        slow_token = harness.token(uid=uid(23), username="slow")

        async def go():
            cs = await join(relay.port, "rep", 20)
            ps = [Player(k, c) for k, c in enumerate(cs, start=1)]
            host, rogue = ps[0], ps[19]
            observer = rogue.c  # owns nothing, so it receives every owner's update
            seqs = {}  # object_id -> last seq used (one counter per object, all owners)

            def next_seq(oid):
                seqs[oid] = seqs.get(oid, 0) + 1
                return seqs[oid]

            def pos(k):
                return [(k % 5) * 0.5, 1.5, (k // 5) * 0.5]  # everyone within 3 m

            await host.c.send({"op": OP["MANIFEST_REGISTER"], "manifest_id": "crate_v1",
                               **MANIFEST})
            await wait_seen(host.c, lambda m: m.get("op") == OP["MANIFEST_REGISTER"])
            for p in ps[:19]:
                oid = f"obj-{p.k}"
                await p.c.send({"op": OP["OBJECT_SPAWN"], "object_id": oid,
                                "manifest_id": "crate_v1", "persist_mode": "placed_room",
                                "transform": {"position": pos(p.k), "rotation": [0, 0, 0, 1]},
                                "properties": {"color": "#000000", "label": f"l{p.k}"}})
                await p.c.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": oid})
                _, g = await wait_seen(p.c, lambda m, oid=oid: m.get("op") == OP[
                    "OWNERSHIP_GRANTED"] and m.get("object_id") == oid)
                self.assertEqual(g["held_by"], p.c.user_id)
                p.held[oid] = g["epoch"]
            for i in (1, 2):  # idle room objects, owned by the host, held by nobody
                await host.c.send({"op": OP["OBJECT_SPAWN"], "object_id": f"decor-{i}",
                                   "manifest_id": "crate_v1", "persist_mode": "placed_room",
                                   "transform": {"position": [i, 0.0, 1.0],
                                                 "rotation": [0, 0, 0, 1]},
                                   "properties": {"color": "#00ff00"}})
            await wait_seen(observer, lambda m: m.get("op") == OP["OBJECT_SPAWN"]
                            and m.get("object_id") == "decor-2")

            # big idle objects (a snapshot_only label of 12 KB each): ~240 KB a snapshot
            for i in range(1, BIG + 1):
                await host.c.send({"op": OP["OBJECT_SPAWN"], "object_id": f"big-{i}",
                                   "manifest_id": "crate_v1", "persist_mode": "placed_room",
                                   "transform": {"position": [0.0, 0.0, i / 4],
                                                 "rotation": [0, 0, 0, 1]},
                                   "properties": {"label": f"{i}" + "x" * 12000}})
            for p in ps[1:]:
                await wait_seen(p.c, lambda m: m.get("op") == OP["OBJECT_SPAWN"]
                                and m.get("object_id") == f"big-{BIG}")
            # the slow client asks for the room many times (more than the kernel's socket
            # buffers hold), then never reads: its backlog sits in the relay during the run
            slow = raw_connect(relay.port, "rep", slow_token)
            self.addCleanup(slow.close)
            slow.sendall(ws_text_frame(json.dumps({"op": OP["SNAPSHOT_REQUEST"]}))
                         * SLOW_REQUESTS)

            loop = asyncio.get_event_loop()
            t0 = loop.time() + 0.1

            last = [0.0]

            async def at_tick(t, pace=False):
                """Tick t's time.  The driver (pace) never sends a tick closer than 0.9 tick
                after the previous one: a starved test process stretches the run (rates are
                measured over real time) instead of sending bursts the relay coalesces."""
                wait = t0 + t * TICK_S - loop.time()
                if pace:
                    wait = max(wait, last[0] + 0.9 * TICK_S - loop.time())
                await asyncio.sleep(max(0.0, wait))
                if pace:
                    last[0] = loop.time()

            async def driver():
                for t in range(TICKS):
                    await at_tick(t, pace=True)
                    for p in ps:
                        p.marks.append((loop.time(), len(p.c.seen)))
                        p.c.queue.clear()  # the test reads `seen`
                        await p.c.send({"op": OP["REP_TRANSFORM"], "seq": t + 1,
                                        "head": {"p": pos(p.k), "r": [0, 0, 0, 1]}})
                        for oid, epoch in list(p.held.items()):
                            await p.c.send({"op": OP["REP_OBJECT"], "object_id": oid,
                                            "seq": next_seq(oid), "epoch": epoch,
                                            "transform": {"position": [p.k * 0.25, 1.0, (t % 8) / 8],
                                                          "rotation": [0, 0, 0, 1]}})
                            if t % 10 == 5:
                                await p.c.send({"op": OP["REP_PROPERTY"], "object_id": oid,
                                                "seq": next_seq(oid), "epoch": epoch,
                                                "name": "color", "value": f"#{p.k:02d}{t:04d}"})
                            if t % 4 == 1:
                                await p.c.send({"op": OP["REP_PROPERTY"], "object_id": oid,
                                                "seq": next_seq(oid), "epoch": epoch,
                                                "name": "wobble", "value": t / 4})
                            if t == 12:  # snapshot_only: only a snapshot carries it
                                await p.c.send({"op": OP["REP_PROPERTY"], "object_id": oid,
                                                "seq": next_seq(oid), "epoch": epoch,
                                                "name": "label", "value": f"L{p.k}-{t}"})
                    if t % 4 == 2:  # forgeries for someone else's object, current epoch
                        victim = f"obj-{1 + (t // 4) % 18}"
                        epoch = ps[(t // 4) % 18].held.get(victim, 1)
                        await rogue.c.send({"op": OP["REP_OBJECT"], "object_id": victim,
                                            "seq": 100000 + t, "epoch": epoch,
                                            "transform": {"position": [9.0, 9.0, 9.0],
                                                          "rotation": [0, 0, 0, 1]}})
                        await rogue.c.send({"op": OP["REP_PROPERTY"], "object_id": victim,
                                            "seq": 100000 + t, "epoch": epoch,
                                            "name": "color", "value": FORGED})
                await at_tick(TICKS, pace=True)
                # the last message of every held object: a REP_OBJECT with its top seq
                for p in ps:
                    for oid, epoch in list(p.held.items()):
                        await p.c.send({"op": OP["REP_OBJECT"], "object_id": oid,
                                        "seq": next_seq(oid), "epoch": epoch,
                                        "transform": {"position": [p.k * 0.25, 2.0, 0.5],
                                                      "rotation": [0, 0.5, 0, 0.75]}})

            async def hand_over(giver, taker, oid, start_tick):
                """giver releases oid; taker grabs it once it has seen the release; the
                giver's in-flight update (old epoch) and the taker's with the old epoch are
                dropped."""
                await at_tick(start_tick)
                old = giver.held.pop(oid)
                # released at once: a high-rate value sent just before (not fanned out yet)
                # must still reach everyone (the relay sends it ahead of the release)
                await giver.c.send({"op": OP["OWNERSHIP_RELEASED"], "object_id": oid})
                if taker is None:
                    return
                i, rel = await wait_seen(taker.c, lambda m: m.get("op") == OP[
                    "OWNERSHIP_RELEASED"] and m.get("object_id") == oid)
                await giver.c.send({"op": OP["REP_OBJECT"], "object_id": oid,
                                    "seq": 200000 + start_tick, "epoch": old,
                                    "transform": {"position": [8.0, 8.0, 8.0],
                                                  "rotation": [0, 0, 0, 1]}})
                await taker.c.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": oid})
                _, g = await wait_seen(taker.c, lambda m: m.get("op") == OP[
                    "OWNERSHIP_GRANTED"] and m.get("object_id") == oid, start=i)
                self.assertEqual(g["held_by"], taker.c.user_id)
                self.assertEqual(g["epoch"], rel["epoch"] + 1)
                await taker.c.send({"op": OP["REP_PROPERTY"], "object_id": oid,
                                    "seq": next_seq(oid), "epoch": old, "name": "color",
                                    "value": FORGED})
                taker.held[oid] = g["epoch"]

            async def host_sets_released(oid, start_tick):
                """The host owns a released object: its property change reaches everyone."""
                await at_tick(start_tick)
                _, rel = await wait_seen(host.c, lambda m: m.get("op") == OP[
                    "OWNERSHIP_RELEASED"] and m.get("object_id") == oid)
                self.assertEqual(rel["owner_id"], host.c.user_id)
                await host.c.send({"op": OP["REP_PROPERTY"], "object_id": oid,
                                   "seq": next_seq(oid), "epoch": rel["epoch"],
                                   "name": "color", "value": "#0000ff"})

            late = RelayClient(relay.port, "rep", uid(21), "late", token=late_token)

            async def late_join():
                await at_tick(JOIN_TICK)
                await late.connect()
                await wait_seen(late, lambda m: m.get("op") == OP["WELCOME"])
                await late.send({"op": OP["SNAPSHOT_REQUEST"]})
                i, done = await wait_seen(late, lambda m: m.get("op") == OP["SNAPSHOT_DONE"])
                late.done_index = i
                late.done = done

            await asyncio.gather(driver(), late_join(),
                                 hand_over(ps[2], ps[3], "obj-3", 20),  # before the join
                                 hand_over(ps[4], ps[5], "obj-5", 50),  # after it
                                 hand_over(ps[1], None, "obj-2", 45),
                                 host_sets_released("obj-2", 55))

            # the slow client was backlogged in the relay during the run (its own figures)
            m = relay.metrics()
            slow_labels = f'room="rep",user="{uid(23)}"'
            self.assertGreater(m[f'roomstate_relay_client_drops_total{{{slow_labels},'
                                 f'reason="slow"}}'], 0)
            self.assertGreater(m[f"roomstate_relay_client_queued_bytes{{{slow_labels}}}"], 0)

            # ---- rates, over the window, for every receiver and every sender ----
            for p in ps:
                (ta, ia), (tb, ib) = p.marks[WINDOW[0]], p.marks[WINDOW[1]]
                span = tb - ta  # the real time between the two ticks
                tf, ob = {}, {}
                for m in p.c.seen[ia:ib]:
                    if m.get("op") == OP["REP_TRANSFORM"]:
                        tf[m["from"]] = tf.get(m["from"], 0) + 1
                    elif m.get("op") == OP["REP_OBJECT"]:
                        ob[m["object_id"]] = ob.get(m["object_id"], 0) + 1
                others = {q.c.user_id for q in ps if q is not p}
                self.assertEqual(set(tf), others, p.c.username)
                for sender, n in tf.items():
                    self.assertGreaterEqual(n / span, FLOOR_HZ,
                                            f"{p.c.username} got {sender}'s transforms at "
                                            f"{n / span:.1f} Hz")
                self.assertGreaterEqual(sum(tf.values()) / len(tf) / span, MIN_HZ,
                                        f"{p.c.username}: transforms {tf}")
                # objects held by the same player through the whole run
                steady = [f"obj-{q.k}" for q in ps[:19] if q is not p
                          and q.k not in (2, 3, 5)]
                for oid in steady:
                    self.assertGreaterEqual(ob.get(oid, 0) / span, FLOOR_HZ,
                                            f"{p.c.username} got {oid} at "
                                            f"{ob.get(oid, 0) / span:.1f} Hz")
                self.assertGreaterEqual(sum(ob.get(o, 0) for o in steady) / len(steady) / span,
                                        MIN_HZ, f"{p.c.username}: objects {ob}")

            # ---- the registry tracked from the live messages (the observer's view) ----
            final_seq = {oid: s for oid, s in seqs.items()}
            for p in ps:
                for oid in p.held:  # wait for the last update of every held object
                    await wait_seen(observer, lambda m, oid=oid: m.get("op") == OP[
                        "REP_OBJECT"] and m.get("object_id") == oid
                        and m.get("seq") == final_seq[oid])
                    await wait_seen(late, lambda m, oid=oid: m.get("op") == OP[
                        "REP_OBJECT"] and m.get("object_id") == oid
                        and m.get("seq") == final_seq[oid], start=late.done_index)
            await wait_seen(observer, lambda m: m.get("op") == OP["REP_PROPERTY"]
                            and m.get("object_id") == "obj-2" and m.get("value") == "#0000ff")
            tracked = Registry()
            for m in observer.seen:
                if isinstance(m, dict):
                    tracked.apply(m)
            self.assertEqual(tracked.epoch_mismatch, [])
            # snapshot_only values are never live: the test knows what the owners sent
            for p in ps[:19]:
                tracked.objects[f"obj-{p.k}"]["properties"]["label"] = f"L{p.k}-12"
            self.assertEqual(sorted(tracked.objects),
                             sorted([f"obj-{k}" for k in range(1, 20)] + ["decor-1", "decor-2"]
                                    + [f"big-{i}" for i in range(1, BIG + 1)]))
            self.assertEqual(tracked.objects["obj-3"]["held_by"], uid(4))
            self.assertEqual(tracked.objects["obj-5"]["held_by"], uid(6))
            self.assertIsNone(tracked.objects["obj-2"]["held_by"])
            self.assertEqual(tracked.objects["obj-2"]["owner_id"], uid(1))
            self.assertEqual(tracked.objects["obj-2"]["properties"]["color"], "#0000ff")
            self.assertEqual(tracked.objects["obj-3"]["epoch"], 3)  # grant, release, grant

            # ---- no update from a non-owner reached anyone ----
            for c in [p.c for p in ps] + [late]:
                for m in c.seen:
                    if m.get("op") in (OP["REP_OBJECT"], OP["REP_PROPERTY"]):
                        self.assertNotEqual(m.get("from"), rogue.c.user_id, c.username)
                        self.assertNotEqual(m.get("value"), FORGED, c.username)
                        self.assertNotEqual(m.get("transform", {}).get("position"),
                                            [8.0, 8.0, 8.0], c.username)
                        owner = tracked.epoch_owner.get((m["object_id"], m["epoch"]))
                        self.assertEqual(m["from"], owner, f"{c.username}: {m}")

            # ---- the late joiner: snapshot first, then live, ends equal ----
            first_chunk = next(i for i, m in enumerate(late.seen)
                               if m.get("op") == OP["SNAPSHOT_CHUNK"])
            early = [m for m in late.seen[:first_chunk] if m.get("op") in OBJECT_PLANE]
            self.assertEqual(early, [], "object-plane messages before the snapshot")
            chunks = [m for m in late.seen[:late.done_index]
                      if m.get("op") == OP["SNAPSHOT_CHUNK"]
                      and m["snapshot"] == late.done["snapshot"]]
            self.assertEqual(len(chunks), late.done["chunks"])
            self.assertEqual(sorted(ch["index"] for ch in chunks),
                             list(range(late.done["chunks"])))
            for f in late.frames:
                if '"op":41' in f.replace(" ", ""):
                    self.assertLessEqual(len(f.encode()), 16384)
            lr = Registry()
            lr.load_snapshot(chunks)
            # the snapshot already had the changes made before the join
            self.assertEqual(lr.objects["obj-3"]["held_by"], uid(4))
            self.assertEqual(lr.objects["obj-7"]["properties"]["label"], "L7-12")
            self.assertEqual(lr.objects["obj-7"]["epoch"], 1)
            after = late.seen[late.done_index + 1:]
            self.assertTrue(any(m.get("op") == OP["REP_OBJECT"] for m in after))
            self.assertTrue(any(m.get("op") == OP["REP_PROPERTY"] and m["name"] == "color"
                                for m in after))
            for m in after:
                lr.apply(m)
            self.assertEqual(lr.epoch_mismatch, [])
            self.assertEqual(lr.manifests, tracked.manifests)
            self.assertEqual(sorted(lr.objects), sorted(tracked.objects))
            for oid, o in tracked.objects.items():
                self.assertEqual(lr.objects[oid], o, oid)

            # ---- after the run: a snapshot alone is exactly the tracked registry ----
            final = await RelayClient(relay.port, "rep", uid(22), "final",
                                      token=final_token).connect()
            await wait_seen(final, lambda m: m.get("op") == OP["WELCOME"])
            await final.send({"op": OP["SNAPSHOT_REQUEST"]})
            i, done = await wait_seen(final, lambda m: m.get("op") == OP["SNAPSHOT_DONE"])
            fr = Registry()
            fr.load_snapshot([m for m in final.seen[:i] if m.get("op") == OP["SNAPSHOT_CHUNK"]])
            self.assertEqual(done["objects"], len(tracked.objects))
            self.assertEqual(fr.manifests, tracked.manifests)
            self.assertEqual(fr.objects, tracked.objects)
            self.assertGreater(done["watermark"], late.done["watermark"])
            self.assertTrue(relay.alive())
            await close_all([p.c for p in ps] + [late, final])

        run(go(), timeout=90)
        m = relay.metrics()
        for reason in ("not_owner", "epoch", "slow"):
            self.assertGreater(m[f'roomstate_relay_drops_total{{reason="{reason}"}}'], 0, reason)


if __name__ == "__main__":
    unittest.main()
