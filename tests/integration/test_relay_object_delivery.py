"""How many REP_OBJECT messages a recipient gets (issue 12: load runs with --objects saw
74-78 % of the deliveries the load generator expected).  The contract
(docs/relay-protocol.md, "Rates" and "Late join"; asyncapi.yaml):
- a client that joined a room holding objects or manifests gets live object-plane messages
  only after its SNAPSHOT_REQUEST; what it missed before is in the snapshot;
- REP_OBJECT goes out on the relay's tick, at most one per object per tick window, the latest
  value: updates in different tick windows all arrive, in order; of several in one window
  only the last does, and the relay counts the others as coalesced drops of the sender;
- the relay ticks at tick_hz (WELCOME's `tick_hz`), however long its ticks take (a rate, so
  checked by the unit test of its schedule, tests/unit/test_clock.c, not by a timed test);
- build/relay-load --objects expects what this contract promises: its delivered REP_OBJECT
  plus the seq numbers superseded in a tick window make up exactly its expectation, and the
  last value of every stream arrives."""
import asyncio
import json
import os
import subprocess
import unittest

import harness

from relayclient import OP, Relay, grab, join, register_manifest, run, spawn, wait_seen

ROOM = "objdeliv"


def rep_object(oid, seq, epoch, x):
    return {"op": OP["REP_OBJECT"], "object_id": oid, "seq": seq, "epoch": epoch,
            "transform": {"position": [x, 1.0, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0]}}


def object_seqs(c, oid, start=0, end=None):
    return [m["seq"] for m in c.seen[start:end] if isinstance(m, dict)
            and m.get("op") == OP["REP_OBJECT"] and m.get("object_id") == oid]


async def holder_with_object(c, oid="box"):
    """c registers a manifest, spawns a transient_held object and holds it; its epoch."""
    await register_manifest(c)
    await spawn(c, oid, persist_mode="transient_held")
    g = await grab(c, oid)
    assert g["op"] == OP["OWNERSHIP_GRANTED"], g
    return g["epoch"]


class ObjectDelivery(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_late_joiner_gets_rep_object_only_after_its_snapshot(self):
        async def body():
            holder, early = await join(self.relay.port, ROOM, 2)  # the room is empty: synced
            epoch = await holder_with_object(holder)
            (late,) = await join(self.relay.port, ROOM, 1, first=3)  # a room with objects
            await holder.send(rep_object("box", 1, epoch, 1.5))
            await wait_seen(early, lambda m: m.get("op") == OP["REP_OBJECT"]
                            and m.get("seq") == 1)
            # the tick that sent seq 1 to `early` has queued whatever it had for `late`
            # before the snapshot reply below, so nothing can still be in flight
            await late.send({"op": OP["SNAPSHOT_REQUEST"]})
            done_at, _ = await wait_seen(late, lambda m: m.get("op") == OP["SNAPSHOT_DONE"])
            self.assertEqual(object_seqs(late, "box", 0, done_at), [],
                             "a client that joined a room with objects got REP_OBJECT "
                             "before its snapshot")
            box = [o for m in late.seen[:done_at] if m.get("op") == OP["SNAPSHOT_CHUNK"]
                   for o in m["objects"] if o["object_id"] == "box"]
            self.assertEqual(len(box), 1)
            self.assertEqual(box[0]["transform"]["position"], [1.5, 1.0, 0.0],
                             "the update it missed is in the snapshot")
            await holder.send(rep_object("box", 2, epoch, 2.5))
            _, m = await wait_seen(late, lambda m: m.get("op") == OP["REP_OBJECT"],
                                   start=done_at)
            self.assertEqual((m["seq"], m["from"], m["transform"]["position"]),
                             (2, holder.user_id, [2.5, 1.0, 0.0]))
            await wait_seen(early, lambda m: m.get("op") == OP["REP_OBJECT"]
                            and m.get("seq") == 2)
            self.assertEqual(object_seqs(early, "box"), [1, 2])
        run(body())

    def test_one_rep_object_per_tick_window_latest_wins(self):
        async def body():
            holder, b, c = await join(self.relay.port, ROOM, 3)
            epoch = await holder_with_object(holder)
            # paced: each update sent once the previous one arrived, so each falls in a tick
            # window of its own: every one is delivered, in order, once
            for seq in range(1, 9):
                await holder.send(rep_object("box", seq, epoch, float(seq)))
                for r in (b, c):
                    await wait_seen(r, lambda m, s=seq: m.get("op") == OP["REP_OBJECT"]
                                    and m.get("seq") == s)
            for r in (b, c):
                self.assertEqual(object_seqs(r, "box"), list(range(1, 9)), r.username)
            mark = {r: len(r.seen) for r in (b, c)}
            # a burst: 8 updates sent back to back share one or two tick windows
            for seq in range(9, 17):
                await holder.send(rep_object("box", seq, epoch, float(seq)))
            for r in (b, c):
                await wait_seen(r, lambda m: m.get("op") == OP["REP_OBJECT"]
                                and m.get("seq") == 16, start=mark[r])
            burst = object_seqs(b, "box", mark[b])
            self.assertEqual(burst, object_seqs(c, "box", mark[c]),
                             "every recipient gets the same tick's values")
            self.assertEqual(burst, sorted(set(burst)))
            self.assertTrue(set(burst) <= set(range(9, 17)), burst)
            self.assertEqual(burst[-1], 16, "the latest value always arrives")
            self.assertLess(len(burst), 8, "updates sharing a tick window are coalesced")
            m = self.relay.metrics()
            coalesced = m[f'roomstate_relay_client_drops_total{{room="{ROOM}",'
                          f'user="{holder.user_id}",reason="coalesced"}}']
            self.assertEqual(coalesced, 8 - len(burst),
                             "each update that did not go out was superseded in its tick window")
        run(body())


class LoadGeneratorExpectation(unittest.TestCase):
    def test_relay_load_objects_counts_what_the_contract_promises(self):
        """--inflight 1: each client joins once the previous one holds its object, so every
        client but the first joins a room with objects (the case a plain load run hits for
        the later rooms).  --hz 10 at the relay's 20 Hz tick: updates 100 ms apart rarely share
        a tick window."""
        relay = Relay(self, ["--log-level", "warn"])
        p = subprocess.run(
            [harness.binary("relay-load"), "--url", f"ws://127.0.0.1:{relay.port}",
             "--objects", "--inflight", "1", "--rooms", "2", "--players", "4", "--hz", "10",
             "--warmup", "0", "--duration", "2", "--drain", "1", "--prefix", "od-"],
            capture_output=True, text=True, timeout=90,
            env={k: v for k, v in os.environ.items()
                 if k not in ("NAKAMA_SESSION_KEY", "NAKAMA_SESSION_KEY_FILE")})
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(len(lines), 1, p.stdout)
        r = json.loads(lines[0][len("RESULT "):])
        self.assertIsNone(r.get("error"))
        self.assertEqual((r["op_errors"], r["foreign"], r["echoes"], r["bad_msgs"]), (0, 0, 0, 0))
        sends = r["obj_sends_per_s"] * 2  # 8 clients at 10 Hz for 2 s: about 160
        self.assertGreater(sends, 20)  # a bound a loaded CI machine keeps (rates are bench/'s)
        exp = r["obj_expected_deliveries"]
        self.assertGreater(exp, 2 * sends, "each send is expected at the room's 3 others")
        # before the generator asked for snapshots only the first client of each room got
        # REP_OBJECT at all: 25 % of the expectation.  What is not delivered must be a send
        # superseded in its tick window (checked exactly below); how many that is depends on
        # timing, so the bound here only separates the two cases
        pct = 100.0 * r["obj_delivered"] / exp
        self.assertGreaterEqual(pct, 50.0, r)
        self.assertAlmostEqual(r["obj_delivered_pct"], pct, places=2)
        self.assertEqual(r["obj_delivered"] + r["obj_seq_gaps"], exp,
                         "every expected delivery arrived or was superseded in its tick window")
        self.assertEqual(r["obj_stale"], 0)
        self.assertEqual(r["obj_last_missing"], 0, "the last value of every stream arrives")


if __name__ == "__main__":
    unittest.main()
