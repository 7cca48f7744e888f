"""roomstate-relay with roomstate-server (docs/relay-protocol.md "Persistence"): SAVE_REQUEST goes
to POST /rooms/{id}/save with a service token and answers SAVE_RESULT; only the host may
save; an emptied room is saved on its own; a room created again is restored from
GET /rooms/{id}/state (objects owned by the host, WELCOME says restored); a server that
cannot be reached gives SAVE_RESULT ok=false and the relay keeps serving.  The real server
(migrated SQLite file in a temp dir) and the real relay on free loopback ports."""
import json
import os
import unittest

import harness
from relayclient import OP, Relay, RelayClient, close_all, register_manifest, run, spawn, uid
from test_server_fixture import SERVICE_KEY, SESSION_KEY, Server


def client(port, room, n):
    tok = harness.token(uid=uid(n), username=f"player{n}", key=SESSION_KEY)
    return RelayClient(port, room, uid(n), f"player{n}", token=tok)


class RelayWithServer(unittest.TestCase):
    def setUp(self):
        self.server = Server(self, args=["--threads", "2"])
        d = harness.tmpdir(self)
        key = os.path.join(d, "nakama.key")
        svc = os.path.join(d, "service.key")
        for path, value in ((key, SESSION_KEY), (svc, SERVICE_KEY)):
            with open(path, "w") as f:
                f.write(value + "\n")
        self.relay = Relay(self, ["--nakama-key-file", key, "--service-key-file", svc,
                                  "--server-url", f"http://127.0.0.1:{self.server.port}",
                                  "--empty-room-ttl", "0"])

    def state(self, room):
        st, _, body = harness.http(
            "GET", self.server.url(f"/rooms/{room}/state"),
            headers={"Authorization": "Bearer " + harness.token(key=SESSION_KEY)})
        return st, (json.loads(body) if st == 200 else None)

    def test_save_request_empty_room_save_and_restore(self):
        room = "persist-1"

        async def first_session():
            h = await client(self.relay.port, room, 1).connect()
            wh = await h.expect(op=OP["WELCOME"])
            self.assertIs(wh["restored"], False)
            g = await client(self.relay.port, room, 2).connect()
            await g.expect(op=OP["WELCOME"])
            await register_manifest(h)
            await spawn(h, "saved-1", "placed_saved", properties={"color": "#112233",
                                                                  "label": "keep"})
            await spawn(h, "room-1", "placed_room")
            await spawn(h, "held-1", "transient_held")
            # only the host may save
            await g.send({"op": OP["SAVE_REQUEST"]})
            denied = await g.expect(pred=lambda m: m.get("op") in (OP["ERROR"],
                                                                    OP["SAVE_RESULT"]))
            self.assertEqual(denied.get("code", denied.get("error")), "not_host")
            await h.send({"op": OP["SAVE_REQUEST"]})
            res = await h.expect(op=OP["SAVE_RESULT"])
            self.assertIs(res["ok"], True, res)
            self.assertEqual(res["version"], 1)
            self.assertEqual(res["objects_saved"], 1)
            seen_by_guest = await g.expect(op=OP["SAVE_RESULT"])
            self.assertEqual(seen_by_guest["version"], 1)
            await close_all([h, g])

        run(first_session())
        st, doc = self.state(room)
        self.assertEqual(st, 200)
        self.assertGreaterEqual(doc["version"], 1)
        self.assertEqual([o["object_id"] for o in doc["objects"]], ["saved-1"])
        self.assertEqual(doc["objects"][0]["properties"], {"color": "#112233", "label": "keep"})
        # the last player left: the relay saved the room on its own (version 2)
        harness.wait_until(lambda: self.state(room)[1]["version"] >= 2, timeout=15,
                           what="the empty-room save")
        # and freed it (at the next tick after the save, TTL 0) before the room is joined again
        harness.wait_until(lambda: self.relay.metrics()["roomstate_relay_rooms"] == 0,
                           timeout=15, what="the empty room freed")

        async def second_session():
            # the room is created again (TTL 0 freed it): its state is loaded and restored
            # the creator's WELCOME waits for the load, so it already says restored
            a = await client(self.relay.port, room, 3).connect()
            wa = await a.expect(op=OP["WELCOME"])
            self.assertIs(wa["restored"], True, wa)
            self.assertGreaterEqual(wa["restored_version"], 2)
            await a.send({"op": OP["SNAPSHOT_REQUEST"]})
            await a.expect(op=OP["SNAPSHOT_DONE"])
            sp = [o for m in a.seen if m.get("op") == OP["SNAPSHOT_CHUNK"]
                  for o in m.get("objects", []) if o["object_id"] == "saved-1"]
            self.assertEqual(len(sp), 1)
            self.assertEqual(sp[0]["owner_id"], uid(3))  # owned by the host
            self.assertEqual(sp[0]["persist_mode"], "placed_saved")
            b = await client(self.relay.port, room, 4).connect()
            wb = await b.expect(op=OP["WELCOME"])
            self.assertIs(wb["restored"], True)
            self.assertGreaterEqual(wb["restored_version"], 2)
            await b.send({"op": OP["SNAPSHOT_REQUEST"]})
            done = await b.expect(op=OP["SNAPSHOT_DONE"])
            chunks = [m for m in b.seen if m.get("op") == OP["SNAPSHOT_CHUNK"]]
            ids = {o["object_id"] for c in chunks for o in c.get("objects", [])}
            self.assertIn("saved-1", ids)
            self.assertNotIn("held-1", ids)
            self.assertEqual(done["objects"], len(ids))
            await close_all([a, b])

        run(second_session())


class RelayServerDown(unittest.TestCase):
    def test_unreachable_server(self):
        d = harness.tmpdir(self)
        svc = os.path.join(d, "service.key")
        with open(svc, "w") as f:
            f.write("svc\n")
        relay = Relay(self, ["--service-key-file", svc, "--server-url",
                             f"http://127.0.0.1:{harness.free_port()}"])

        async def go():
            h = await RelayClient(relay.port, "down", uid(1), "host").connect()
            await h.expect(op=OP["WELCOME"])
            await h.send({"op": OP["SAVE_REQUEST"]})
            res = await h.expect(op=OP["SAVE_RESULT"])
            self.assertIs(res["ok"], False)
            self.assertIsInstance(res["error"], str)
            # still serving
            await h.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "nothing"})
            await h.expect(op=OP["OWNERSHIP_DENIED"], object_id="nothing")
            await h.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
