"""The plan's restart-replay harness (Phase 6.3, issue 5): server and relay together.

Session 1: players join a room, register manifests with every tier (and durable overrides
both ways), spawn objects of all three persist modes, hold some, set properties of every
tier; the host presses Save Room (SAVE_REQUEST).  Then both processes are killed (SIGKILL:
nothing gets a chance to save on the way out) and started again on the same database.
Session 2: a new player joins the restored room; the plan's acceptance list is checked item
by item:
  - object spawn list: exactly the placed_saved objects (placed_room and transient ones are
    gone: "Transient held objects are not restored after restart");
  - ownership baseline: every restored object is owned by the host, held by nobody, placed;
  - manifest ids: every restored object keeps its manifest id, and the manifests come back;
  - persisted property map values: durable properties with the values set during the
    session (not the spawn values); non-durable properties are not restored.
`make replay` runs this file alone.

The relay runs as a single relay (`--lease-ttl-ms 0`: no lease, no live checkpoints), the
deployment this acceptance list is about.  A relay of a fleet (README "Several relays")
restores a room's live checkpoint instead after a crash (players keep their seats,
transient objects come back): tests/integration/test_relay_fleet.py checks that."""
import json
import os
import signal
import unittest

import harness
from relayclient import OP, Relay, RelayClient, close_all, grab, run, uid
from test_server_fixture import SERVICE_KEY, SESSION_KEY, Server

ROOM = "replay-room-1"
MANIFESTS = {
    "crate_v1": {"properties": {
        "color": {"tier": "reliable_on_change"},                    # durable by default
        "label": {"tier": "snapshot_only"},                         # durable by default
        "wobble": {"tier": "high_rate_unreliable"},                 # not durable
        "highlight": {"tier": "reliable_on_change", "durable": False},  # override: not durable
    }},
    "lamp_v2": {"properties": {
        "on": {"tier": "reliable_on_change"},
        "hue": {"tier": "high_rate_unreliable", "durable": True},   # override: durable
    }},
}
TRANSFORM = {"position": [1.0, 0.5, -2.0], "rotation": [0.0, 0.0, 0.0, 1.0],
             "scale": [1.0, 1.0, 1.0]}
# object id -> (manifest, persist mode, spawn properties)
OBJECTS = {
    "crate-saved": ("crate_v1", "placed_saved", {"color": "#000001", "label": "a",
                                                 "wobble": 0.1, "highlight": False}),
    "lamp-saved": ("lamp_v2", "placed_saved", {"on": False, "hue": 0.0}),
    "crate-held-saved": ("crate_v1", "placed_saved", {"color": "#000002", "label": "b"}),
    "crate-room": ("crate_v1", "placed_room", {"color": "#000003"}),
    "lamp-transient": ("lamp_v2", "transient_held", {"on": True}),
}
# what the properties are set to during the session (REP_PROPERTY from each owner)
UPDATES = {
    "crate-saved": {"color": "#ff0000", "label": "tools", "wobble": 0.9, "highlight": True},
    "lamp-saved": {"on": True, "hue": 0.75},
    "crate-held-saved": {"color": "#00ff00"},
}
EXPECTED_PROPERTIES = {
    "crate-saved": {"color": "#ff0000", "label": "tools"},
    "lamp-saved": {"on": True, "hue": 0.75},
    "crate-held-saved": {"color": "#00ff00", "label": "b"},
}


def player(port, n):
    tok = harness.token(uid=uid(n), username=f"player{n}", key=SESSION_KEY)
    return RelayClient(port, ROOM, uid(n), f"player{n}", token=tok)


class RestartReplay(unittest.TestCase):
    def start(self):
        """Server and relay on the same database and keys (a second call restarts both)."""
        self.server = Server(self, db=getattr(self, "db", None), args=["--threads", "2"])
        self.db = self.server.db
        d = harness.tmpdir(self)
        key, svc = os.path.join(d, "nakama.key"), os.path.join(d, "service.key")
        for path, value in ((key, SESSION_KEY), (svc, SERVICE_KEY)):
            with open(path, "w") as f:
                f.write(value + "\n")
        self.relay = Relay(self, ["--nakama-key-file", key, "--service-key-file", svc,
                                  "--server-url", f"http://127.0.0.1:{self.server.port}",
                                  "--lease-ttl-ms", "0"])

    def kill_both(self):
        self.assertTrue(self.relay.alive() and self.server.proc.alive())
        self.relay.kill9()
        self.server.proc.stop(signal.SIGKILL)

    async def set_property(self, c, object_id, epoch, seq, name, value):
        await c.send({"op": OP["REP_PROPERTY"], "object_id": object_id, "seq": seq,
                      "epoch": epoch, "name": name, "value": value})

    async def session_one(self):
        host = await player(self.relay.port, 1).connect()
        w = await host.expect(op=OP["WELCOME"])
        self.assertIs(w["restored"], False)
        guest = await player(self.relay.port, 2).connect()
        await guest.expect(op=OP["WELCOME"])
        for mid, m in MANIFESTS.items():
            await host.send({"op": OP["MANIFEST_REGISTER"], "manifest_id": mid, **m})
            await host.expect(op=OP["MANIFEST_REGISTER"], manifest_id=mid)
        epochs = {}
        for oid, (mid, mode, props) in OBJECTS.items():
            await host.send({"op": OP["OBJECT_SPAWN"], "object_id": oid, "manifest_id": mid,
                             "persist_mode": mode, "transform": TRANSFORM, "properties": props})
            sp = await host.expect(op=OP["OBJECT_SPAWN"], object_id=oid)
            epochs[oid] = sp["epoch"]
        # the guest holds two objects: one saved, one transient (held until the restart)
        owners = {oid: host for oid in OBJECTS}
        for oid in ("crate-held-saved", "lamp-transient"):
            g = await grab(guest, oid)
            self.assertEqual(g["op"], OP["OWNERSHIP_GRANTED"], g)
            epochs[oid] = g["epoch"]
            owners[oid] = guest
        # every tier set by the object's owner; the last change of each is awaited by the host
        seq = 100
        for oid, props in UPDATES.items():
            for name, value in props.items():
                seq += 1
                await self.set_property(owners[oid], oid, epochs[oid], seq, name, value)
        # reliable_on_change changes reach the others; wait for the last durable one of each
        await host.expect(op=OP["REP_PROPERTY"], object_id="crate-held-saved", name="color")
        await guest.expect(op=OP["REP_PROPERTY"], object_id="lamp-saved", name="on")
        await host.send({"op": OP["SAVE_REQUEST"]})
        res = await host.expect(op=OP["SAVE_RESULT"])
        self.assertIs(res["ok"], True, res)
        self.assertEqual(res["objects_saved"], 3)
        self.saved_version = res["version"]
        # no clean close: the processes are killed with the players still in the room
        return host, guest

    def test_save_kill_restart_reconstructs_the_plan_acceptance_list(self):
        self.start()
        clients = run(self.session_one())
        self.kill_both()
        run(close_all(list(clients)))
        self.start()  # same database

        async def session_two():
            newcomer = await player(self.relay.port, 3).connect()
            w = await newcomer.expect(op=OP["WELCOME"])
            self.assertIs(w["restored"], True, w)
            self.assertEqual(w["restored_version"], self.saved_version)
            self.assertEqual(w["host_id"], uid(3))
            await newcomer.send({"op": OP["SNAPSHOT_REQUEST"]})
            done = await newcomer.expect(op=OP["SNAPSHOT_DONE"])
            chunks = [m for m in newcomer.seen if m.get("op") == OP["SNAPSHOT_CHUNK"]
                      and m.get("snapshot") == done["snapshot"]]
            self.assertEqual(len(chunks), done["chunks"])
            objects = {o["object_id"]: o for c in chunks for o in c.get("objects", [])}
            manifests = {}
            for c in chunks:
                manifests.update(c.get("manifests", {}))
            await close_all([newcomer])
            return objects, manifests

        objects, manifests = run(session_two())
        # 1. object spawn list: exactly the placed_saved objects; transient held ones gone
        self.assertEqual(sorted(objects), ["crate-held-saved", "crate-saved", "lamp-saved"])
        self.assertNotIn("lamp-transient", objects)
        self.assertNotIn("crate-room", objects)
        for oid, o in objects.items():
            # 2. ownership baseline: host-owned placed state, held by nobody
            self.assertEqual(o["owner_id"], uid(3), oid)
            self.assertIsNone(o["held_by"], oid)
            self.assertIs(o["placed"], True, oid)
            self.assertEqual(o["persist_mode"], "placed_saved", oid)
            # 3. manifest ids
            self.assertEqual(o["manifest_id"], OBJECTS[oid][0], oid)
            self.assertEqual(o["transform"]["position"], TRANSFORM["position"], oid)
            # 4. persisted property values; non-durable ones not restored
            self.assertEqual(o["properties"], EXPECTED_PROPERTIES[oid], oid)
        self.assertEqual(manifests, MANIFESTS)
        # the server holds the same document (what the relay restored from); the relay saved
        # the room again on its own when the newcomer left, so read the version it restored
        st, _, body = harness.http("GET", self.server.url(
            f"/rooms/{ROOM}/state?version={self.saved_version}"), headers={
            "Authorization": "Bearer " + harness.token(key=SESSION_KEY)})
        self.assertEqual(st, 200)
        doc = json.loads(body)
        self.assertEqual(doc["version"], self.saved_version)
        self.assertEqual({o["object_id"]: o["properties"] for o in doc["objects"]},
                         EXPECTED_PROPERTIES)
        self.assertEqual(doc["saved_by"]["service"], "roomstate-relay")
        self.assertEqual(doc["saved_by"]["user_id"], uid(1))
        for o in doc["objects"]:
            self.assertIsNone(o["owner_id"])
            self.assertIsNone(o["held_by"])


if __name__ == "__main__":
    unittest.main()
