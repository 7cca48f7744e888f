"""roomstate-server's save fast path (common/roomscan) end to end: one document sent in
several spellings (compact, indented, ASCII-escaped, keys sorted, "objects" before
"manifests") is stored as the same document; bodies the fast path leaves to the reference
still get the reference's answers; many concurrent saves (suspended connections on the
save workers, group commits) are all acknowledged and stored."""
import json
import threading
import unittest

import harness
from test_server_fixture import SESSION_KEY, Server, problem, room_doc


def doc_of(state):
    return {"manifests": state["manifests"], "objects": state["objects"]}


class TestFastPath(unittest.TestCase):
    def setUp(self):
        self.s = Server(self, args=["--threads", "2", "--save-workers", "8"])
        self.t = harness.token(key=SESSION_KEY)

    def tearDown(self):
        self.s.stop()

    def save(self, room, body):
        st, h, b = self.s.request("POST", f"/rooms/{room}/save", body=body, token=self.t)
        return st, json.loads(b)

    def state(self, room):
        st, h, b = self.s.request("GET", f"/rooms/{room}/state", token=self.t)
        self.assertEqual(st, 200, b[:200])
        return json.loads(b)

    def test_spellings_store_the_same(self):
        doc = room_doc(n_saved=6, n_room=3, n_held=2, tag="caf\u00e9 \u2713 \"q\" \\ /\n")
        doc["objects"][0]["properties"]["label"] = {"nested": [1, 2.5, -3e-2, None, True]}
        doc["objects"][1]["transform"]["scale"] = [2, 2, 2]
        doc["objects"][2]["transform"]["skew"] = 1  # dropped: not a transform member
        reordered = {"objects": doc["objects"], "manifests": doc["manifests"], "x": 1}
        spellings = [
            json.dumps(doc, separators=(",", ":"), ensure_ascii=False),
            json.dumps(doc, indent=2, ensure_ascii=False),
            json.dumps(doc, ensure_ascii=True),
            json.dumps(doc, sort_keys=True, separators=(",", ":")),
            json.dumps(reordered, separators=(",", ":")),
            " \n" + json.dumps(doc) + "\n ",
        ]
        answers, stored = [], []
        for i, text in enumerate(spellings):
            st, ans = self.save(f"spell-{i}", text.encode())
            self.assertIn(st, (200, 201), ans)
            answers.append({k: ans[k] for k in ("objects_saved", "dropped")})
            stored.append(doc_of(self.state(f"spell-{i}")))
        for i in range(1, len(spellings)):
            self.assertEqual(answers[i], answers[0], f"spelling {i}")
            self.assertEqual(stored[i], stored[0], f"spelling {i}")
        self.assertEqual(answers[0]["objects_saved"], 6)
        self.assertEqual(set(stored[0]["manifests"]), {"crate_v1"})
        o2 = [o for o in stored[0]["objects"] if o["object_id"] == "saved-2"][0]
        self.assertNotIn("skew", o2["transform"])
        self.assertEqual(o2["transform"]["scale"], [1, 1, 1])
        self.assertNotIn("highlight", o2["properties"])  # durable: false

    def test_reference_answers_kept(self):
        st, ans = self.save("bad-1", b'{"manifests": {}, "objects": [}')
        self.assertEqual(st, 400, ans)
        self.assertEqual((ans["line"], ans["column"]), (1, 31))
        st, ans = self.save("bad-2", b'{"manifests": {}, "manifests": {}, "objects": []}')
        self.assertEqual(st, 400, ans)
        doc = room_doc()
        doc["objects"][0]["properties"]["nope"] = 1
        st, ans = self.save("bad-3", json.dumps(doc).encode())
        self.assertEqual(st, 422, ans)
        self.assertEqual([e["path"] for e in ans["errors"]], ["objects[0].properties.nope"])
        st, ans = self.save("bad-4", b'{"manifests": {}, "objects": [], "n": 1e999}')
        self.assertEqual(st, 400, ans)
        # valid, but left to the reference (an escaped manifest id): same result
        text = json.dumps(room_doc()).replace('"crate_v1"', '"crate\\u005fv1"')
        st, ans = self.save("esc", text.encode())
        self.assertIn(st, (200, 201), ans)
        self.assertEqual(doc_of(self.state("esc"))["manifests"].keys(), {"crate_v1"})

    def test_concurrent_saves_all_acknowledged(self):
        n_threads, saves = 16, 3
        errors = []

        def client(i):
            try:
                for k in range(saves):
                    st, ans = self.save(f"conc-{i}", json.dumps(room_doc(tag=f"{i}-{k}")).encode())
                    if st not in (200, 201) or ans["version"] != k + 1:
                        errors.append((i, k, st, ans))
            except Exception as e:  # reported below
                errors.append(repr(e))

        ts = [threading.Thread(target=client, args=(i,)) for i in range(n_threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)
        self.assertFalse([t for t in ts if t.is_alive()], "client threads still running")
        self.assertEqual(errors, [])
        for i in range(n_threads):
            s = self.state(f"conc-{i}")
            self.assertEqual(s["version"], saves)
            self.assertEqual(s["objects"][0]["properties"]["label"], f"{i}-{saves - 1}")

    def test_sigterm_with_saves_in_flight(self):
        """SIGTERM while saves are queued on the group-commit writer: the server exits 0, and every save
        it acknowledged is there after a restart."""
        acked, stop, errors = {}, threading.Event(), []

        def client(i):
            k = 0
            while not stop.is_set() and k < 200:
                try:
                    st, ans = self.save(f"term-{i}", json.dumps(room_doc(tag=str(k))).encode())
                except Exception:  # the server went away: expected once it stops
                    return
                if st in (200, 201):
                    acked[i] = ans["version"]
                elif st not in (503,):
                    errors.append((i, st, ans))
                    return
                k += 1

        ts = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for t in ts:
            t.start()
        harness.wait_until(lambda: len(acked) >= 6, timeout=30, what="saves under way")
        rc = self.s.stop()
        stop.set()
        for t in ts:
            t.join(timeout=60)
        self.assertFalse([t for t in ts if t.is_alive()], "client threads still running")
        self.assertEqual(rc, 0, "server did not exit cleanly on SIGTERM")
        self.assertEqual(errors, [])
        self.s.start()
        for i, version in acked.items():
            self.assertGreaterEqual(self.state(f"term-{i}")["version"], version)


class TestObjectLimit(unittest.TestCase):
    """--max-objects: the fast path refuses a body over the limit before it reads any object,
    and the answer is the reference's whatever else the body breaks: 422 invalid-document
    (RFC 9457 section 3.1: type, title, status, detail; "errors" its extension member, section
    3.2) with the limit at path "objects", after any problem of "manifests", and no object
    examined; a body that is not JSON is still a 400."""

    TOO_MANY = {"path": "objects", "message": "too many objects: 5 (the limit is 3)"}

    def setUp(self):
        self.s = Server(self, args=["--max-objects", "3"])
        self.t = harness.token(key=SESSION_KEY)

    def tearDown(self):
        self.s.stop()

    def save(self, room, body):
        return self.s.request("POST", f"/rooms/{room}/save", body=body, token=self.t)

    def invalid(self, room, doc):
        st, h, b = self.save(room, json.dumps(doc).encode())
        p = problem(self, st, h, b, 422, "invalid-document")
        self.assertEqual(self.s.request("GET", f"/rooms/{room}/state", token=self.t)[0], 404)
        return p

    def test_over_the_limit(self):
        p = self.invalid("over", room_doc(n_saved=3, n_room=1, n_held=1))
        self.assertEqual(p["errors"], [self.TOO_MANY])
        self.assertEqual(p["detail"], "1 problem in the room document")
        self.assertEqual(p["title"], "Invalid Room Document")

    def test_over_the_limit_with_invalid_objects(self):
        # objects the limit keeps from being examined: their errors are not reported
        doc = room_doc(n_saved=3, n_room=1, n_held=1)
        doc["objects"][1]["manifest_id"] = "crate_v2"
        doc["objects"][4]["persist_mode"] = "floating"
        doc["objects"][3]["object_id"] = "saved-0"
        p = self.invalid("over-objects", doc)
        self.assertEqual(p["errors"], [self.TOO_MANY])

    def test_over_the_limit_with_invalid_manifests(self):
        doc = room_doc(n_saved=3, n_room=1, n_held=1)
        doc["manifests"]["unused_v1"]["properties"]["x"]["tier"] = "sometimes"
        doc["objects"][4]["persist_mode"] = "floating"
        p = self.invalid("over-manifests", doc)
        self.assertEqual(p["errors"], [
            {"path": "manifests.unused_v1.properties.x.tier",
             "message": "unknown tier 'sometimes': expected high_rate_unreliable, "
                        "reliable_on_change or snapshot_only"},
            self.TOO_MANY])
        self.assertEqual(p["detail"], "2 problems in the room document")

    def test_over_the_limit_not_json(self):
        text = json.dumps(room_doc(n_saved=3, n_room=1, n_held=1))
        st, h, b = self.save("over-syntax", (text[:-1] + ",}").encode())
        problem(self, st, h, b, 400, "malformed-json")

    def test_at_the_limit(self):
        st, h, b = self.save("at", json.dumps(room_doc(n_saved=2, n_room=1, n_held=0)).encode())
        self.assertIn(st, (200, 201), b[:300])
        self.assertEqual(json.loads(b)["objects_saved"], 2)
        doc = room_doc(n_saved=2, n_room=1, n_held=0)
        doc["objects"][2]["persist_mode"] = "floating"
        p = self.invalid("at-bad", doc)
        self.assertEqual([e["path"] for e in p["errors"]], ["objects[2].persist_mode"])


if __name__ == "__main__":
    unittest.main()
