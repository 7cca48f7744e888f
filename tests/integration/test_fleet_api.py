"""The relay fleet's HTTP API of roomstate-server (issue 10; docs/http-api.md "Relay fleet"):
leases (POST/GET/DELETE /rooms/{id}/lease) with fencing numbers that are never reused, live
checkpoints (PUT/GET/DELETE /rooms/{id}/checkpoint) that are fenced, durable, not versions,
and expire; service tokens only.  Bad input gets its RFC 9457 problem document (RFC 9457
§3: type, title, status, detail) and stores nothing.

Runs on SQLite, and on PostgreSQL with ROOMSTATE_TEST_BACKEND=postgres (make
integration-postgres), where expiry is the database's clock."""
import json
import threading
import unittest

import harness
from test_server_fixture import SERVICE_KEY, SESSION_KEY, Server, problem, room_doc, tokens

TTL = 5000


class FleetCase(unittest.TestCase):
    server_args = ()

    def setUp(self):
        self.s = Server(self, args=list(self.server_args))
        self.svc = harness.token(uid="", service="relay", service_key=SERVICE_KEY)
        self.user = harness.token(key=SESSION_KEY)

    def req(self, method, path, body=None, token=None, headers=None):
        st, h, b = self.s.request(method, path, body=body, token=token or self.svc,
                                  headers=headers)
        return st, h, b

    def acquire(self, room, holder, ttl=TTL, fence=None, want=200):
        body = {"holder": holder, "ttl_ms": ttl}
        if fence is not None:
            body["fence"] = fence
        st, h, b = self.req("POST", f"/rooms/{room}/lease", body)
        self.assertEqual(st, want, b[:300])
        return h, json.loads(b)

    def put_ckpt(self, room, fence, state, want=200, token=None):
        st, h, b = self.req("PUT", f"/rooms/{room}/checkpoint?fence={fence}",
                            json.dumps(state), token=token)
        self.assertEqual(st, want, (b[:300], self.s.proc.output()[-3000:]))
        return h, json.loads(b) if b else None

    def get(self, room, what):
        st, _, b = self.req("GET", f"/rooms/{room}/{what}")
        return st, json.loads(b) if b else None


class Leases(FleetCase):
    def test_acquire_renew_release_and_fences_never_reused(self):
        _, a = self.acquire("r1", "relay-a")
        self.assertEqual(a["fence"], 1)
        self.assertEqual(a["holder"], "relay-a")
        self.assertEqual(a["room_id"], "r1")
        self.assertEqual(a["ttl_ms"], TTL)
        self.assertEqual(a["expires_in_ms"], TTL)
        # idempotent acquire by the same holder: same fence
        _, again = self.acquire("r1", "relay-a")
        self.assertEqual(again["fence"], 1)
        # renew with the fence
        _, renewed = self.acquire("r1", "relay-a", fence=1)
        self.assertEqual(renewed["fence"], 1)
        # another holder is refused while it is held, told who holds it and for how long
        st, h, b = self.req("POST", "/rooms/r1/lease", {"holder": "relay-b", "ttl_ms": TTL})
        doc = problem(self, st, h, b, 409, "lease-held")
        self.assertEqual(doc["holder"], "relay-a")
        self.assertTrue(0 < doc["expires_in_ms"] <= TTL, doc)
        # the admin view
        st, view = self.get("r1", "lease")
        self.assertEqual(st, 200)
        self.assertEqual((view["holder"], view["fence"]), ("relay-a", 1))
        # release: 204; the lease is gone, the fence counter kept
        st, _, _ = self.req("DELETE", "/rooms/r1/lease?fence=1")
        self.assertEqual(st, 204)
        self.assertEqual(self.get("r1", "lease")[0], 404)
        st, h, b = self.req("DELETE", "/rooms/r1/lease?fence=1")
        problem(self, st, h, b, 404, "not-found")
        # a renewal with the released fence is refused
        st, h, b = self.req("POST", "/rooms/r1/lease",
                            {"holder": "relay-a", "ttl_ms": TTL, "fence": 1})
        problem(self, st, h, b, 409, "lease-lost")
        # the next holder gets a NEW fence, never 1 again
        _, b2 = self.acquire("r1", "relay-b")
        self.assertEqual(b2["fence"], 2)
        st, h, b = self.req("DELETE", "/rooms/r1/lease?fence=1")
        problem(self, st, h, b, 409, "lease-lost")
        # rooms have their own counters
        self.assertEqual(self.acquire("r2", "relay-a")[1]["fence"], 1)
        # no lease at all
        st, h, b = self.req("DELETE", "/rooms/never/lease?fence=1")
        problem(self, st, h, b, 404, "not-found")

    def test_expiry_lets_another_holder_take_over(self):
        _, a = self.acquire("rx", "relay-a", ttl=1000)
        # after the lease ran out (server clock), nobody holds it...
        harness.wait_until(lambda: self.get("rx", "lease")[0] == 404, timeout=10,
                           what="the 1 s lease to expire")
        # ...but its holder may still renew with its fence while nobody took it over
        _, r = self.acquire("rx", "relay-a", ttl=1000, fence=a["fence"])
        self.assertEqual(r["fence"], a["fence"])
        harness.wait_until(lambda: self.get("rx", "lease")[0] == 404, timeout=10,
                           what="the renewed lease to expire")
        # taken over: a new fence; the old holder's fence is lost
        _, b = self.acquire("rx", "relay-b")
        self.assertEqual(b["fence"], a["fence"] + 1)
        st, h, body = self.req("POST", "/rooms/rx/lease",
                               {"holder": "relay-a", "ttl_ms": 1000, "fence": a["fence"]})
        problem(self, st, h, body, 409, "lease-lost")
        # the old holder, asking afresh, finds it held
        st, h, body = self.req("POST", "/rooms/rx/lease", {"holder": "relay-a", "ttl_ms": 1000})
        problem(self, st, h, body, 409, "lease-held")

    def test_concurrent_acquires_have_one_winner(self):
        results, lock = [], threading.Lock()

        def go(i):
            st, _, b = self.req("POST", "/rooms/race/lease", {"holder": f"relay-{i}",
                                                               "ttl_ms": TTL})
            with lock:
                results.append((st, json.loads(b)))

        threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 8)
        won = [d for st, d in results if st == 200]
        self.assertEqual(len(won), 1, results)
        self.assertEqual(won[0]["fence"], 1)
        for st, d in results:
            if st != 200:
                self.assertEqual(st, 409)
                self.assertEqual(d["holder"], won[0]["holder"])

    def test_bad_lease_requests(self):
        cases = [
            ({"holder": "", "ttl_ms": TTL}, "holder"),
            ({"holder": "x" * 129, "ttl_ms": TTL}, "holder"),
            ({"holder": "bad\u0001", "ttl_ms": TTL}, "holder"),
            ({"holder": "caf\u00e9", "ttl_ms": TTL}, "holder"),
            ({"holder": 5, "ttl_ms": TTL}, "holder"),
            ({"ttl_ms": TTL}, "holder"),
            ({"holder": "a", "ttl_ms": 999}, "ttl_ms"),
            ({"holder": "a", "ttl_ms": 60001}, "ttl_ms"),
            ({"holder": "a", "ttl_ms": "5000"}, "ttl_ms"),
            ({"holder": "a"}, "ttl_ms"),
            ({"holder": "a", "ttl_ms": TTL, "fence": 0}, "fence"),
            ({"holder": "a", "ttl_ms": TTL, "fence": "1"}, "fence"),
            ([1, 2], ""),
        ]
        for body, path in cases:
            st, h, b = self.req("POST", "/rooms/bad/lease", body)
            doc = problem(self, st, h, b, 400, "bad-request")
            self.assertEqual(doc["errors"][0]["path"], path, body)
        st, h, b = self.req("POST", "/rooms/bad/lease", '{"holder": "a", ')
        problem(self, st, h, b, 400, "malformed-json")
        st, h, b = self.req("POST", "/rooms/bad/lease", '{"holder":"a","ttl_ms":5000}',
                            headers={"Content-Type": "text/plain"})
        problem(self, st, h, b, 415, "unsupported-media-type")
        for q in ("", "?fence=", "?fence=0", "?fence=-1", "?fence=1x", "?fence=01",
                  "?fence=9999999999999999999"):
            st, h, b = self.req("DELETE", f"/rooms/bad/lease{q}")
            problem(self, st, h, b, 400, "bad-request")
        # a bad room id (the /save rule)
        st, h, b = self.req("POST", "/rooms/-bad/lease", {"holder": "a", "ttl_ms": TTL})
        problem(self, st, h, b, 400, "bad-room-id")
        st, h, b = self.req("GET", "/rooms/" + "a" * 129 + "/lease")
        problem(self, st, h, b, 400, "bad-room-id")
        # nothing was stored by any of them: the first real acquire gets fence 1
        self.assertEqual(self.get("bad", "lease")[0], 404)
        self.assertEqual(self.acquire("bad", "a")[1]["fence"], 1)

    def test_method_not_allowed(self):
        st, h, b = self.req("PUT", "/rooms/r/lease", {"holder": "a", "ttl_ms": TTL})
        problem(self, st, h, b, 405, "method-not-allowed")
        self.assertEqual(h["allow"], "GET, HEAD, POST, DELETE")
        st, h, b = self.req("POST", "/rooms/r/checkpoint", {})
        problem(self, st, h, b, 405, "method-not-allowed")
        self.assertEqual(h["allow"], "GET, HEAD, PUT, DELETE")


class Auth(FleetCase):
    def test_service_tokens_only(self):
        self.acquire("a1", "relay-a")
        self.put_ckpt("a1", 1, {"v": 1})
        bad = tokens()
        forged = harness.token(uid="", service="relay", service_key="not-the-service-key")
        expired = harness.token(uid="", service="relay", service_key=SERVICE_KEY, ttl=-60)
        calls = [("POST", "/rooms/a1/lease", {"holder": "relay-x", "ttl_ms": TTL}),
                 ("GET", "/rooms/a1/lease", None),
                 ("DELETE", "/rooms/a1/lease?fence=1", None),
                 ("PUT", "/rooms/a1/checkpoint?fence=1", {"v": 666}),
                 ("GET", "/rooms/a1/checkpoint", None),
                 ("DELETE", "/rooms/a1/checkpoint?fence=1", None)]
        for method, path, body in calls:
            # no token: 401 with a Bearer challenge (RFC 6750 §3)
            st, h, b = self.s.request(method, path, body=body)
            problem(self, st, h, b, 401, "unauthorized")
            self.assertTrue(h["www-authenticate"].startswith("Bearer"))
            for tok in (forged, expired, bad["garbage"], bad["alg-none"]):
                st, h, b = self.s.request(method, path, body=body, token=tok)
                problem(self, st, h, b, 401, "unauthorized")
            # a player's valid session token: 403
            st, h, b = self.s.request(method, path, body=body, token=self.user)
            problem(self, st, h, b, 403, "forbidden")
        # nothing changed: same lease, same checkpoint
        st, lease = self.get("a1", "lease")
        self.assertEqual((st, lease["holder"], lease["fence"]), (200, "relay-a", 1))
        st, ck = self.get("a1", "checkpoint")
        self.assertEqual((st, ck["state"]), (200, {"v": 1}))


class Checkpoints(FleetCase):
    server_args = ("--checkpoint-max-bytes", "65536")

    def test_put_get_delete(self):
        _, a = self.acquire("c1", "relay-a")
        state = {"objects": [{"object_id": "o1", "properties": {"n": 1.5, "s": "\u00e9\u4e2d"}}],
                 "presences": [{"user_id": "u", "join_order": 1}]}
        _, put = self.put_ckpt("c1", a["fence"], state)
        self.assertEqual(put["fence"], 1)
        self.assertEqual(put["room_id"], "c1")
        self.assertEqual(put["bytes"], len(json.dumps(state).encode()))
        self.assertEqual(put["expires_in_ms"], 600000)  # the default --checkpoint-ttl-s
        self.assertIsNone(put["saved_version"])
        self.assertRegex(put["checkpointed_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        st, ck = self.get("c1", "checkpoint")
        self.assertEqual(st, 200)
        self.assertEqual(ck["state"], state)
        self.assertEqual(ck["fence"], 1)
        self.assertIsNone(ck["saved_version"])
        self.assertEqual(ck["checkpointed_at"], put["checkpointed_at"])
        self.assertIsInstance(ck["checkpointed_at_ms"], int)
        # replaced by the next one
        self.put_ckpt("c1", 1, {"second": True})
        self.assertEqual(self.get("c1", "checkpoint")[1]["state"], {"second": True})
        # delete: 204, then 404
        st, _, _ = self.req("DELETE", "/rooms/c1/checkpoint?fence=1")
        self.assertEqual(st, 204)
        st, h, b = self.req("GET", "/rooms/c1/checkpoint")
        problem(self, st, h, b, 404, "not-found")
        st, h, b = self.req("DELETE", "/rooms/c1/checkpoint?fence=1")
        problem(self, st, h, b, 404, "not-found")

    def test_not_a_version(self):
        user = self.user
        st, _, _ = self.s.request("POST", "/rooms/c2/save", body=room_doc(tag="saved"), token=user)
        self.assertEqual(st, 201)
        _, a = self.acquire("c2", "relay-a")
        _, put = self.put_ckpt("c2", a["fence"], {"live": 1})
        self.assertEqual(put["saved_version"], 1)  # the room's saved version at the write
        # the saved state and its history are untouched
        st, _, b = self.s.request("GET", "/rooms/c2/versions", token=user)
        self.assertEqual([v["version"] for v in json.loads(b)["versions"]], [1])
        st, _, b = self.s.request("GET", "/rooms/c2/state", token=user)
        self.assertEqual(json.loads(b)["version"], 1)
        self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], "saved")
        # a later save: the checkpoint still names version 1 (the relay then prefers the save)
        st, _, _ = self.s.request("POST", "/rooms/c2/save", body=room_doc(tag="two"), token=user)
        self.assertEqual(st, 200)
        self.assertEqual(self.get("c2", "checkpoint")[1]["saved_version"], 1)
        _, put = self.put_ckpt("c2", a["fence"], {"live": 2})
        self.assertEqual(put["saved_version"], 2)
        # a deleted room has no saved version
        st, _, _ = self.s.request("DELETE", "/rooms/c2/state", token=user)
        self.assertEqual(st, 204)
        _, put = self.put_ckpt("c2", a["fence"], {"live": 3})
        self.assertIsNone(put["saved_version"])

    def test_fencing(self):
        # no lease at all
        st, h, b = self.req("PUT", "/rooms/f1/checkpoint?fence=1", "{}")
        problem(self, st, h, b, 409, "lease-lost")
        _, a = self.acquire("f1", "relay-a", ttl=1000)
        self.put_ckpt("f1", a["fence"], {"by": "a"})
        # a lease that expired but nobody took over still accepts its holder's checkpoint
        harness.wait_until(lambda: self.get("f1", "lease")[0] == 404, timeout=10,
                           what="the lease to expire")
        self.put_ckpt("f1", a["fence"], {"by": "a", "late": True})
        # taken over: the old fence is refused and nothing is stored
        _, b = self.acquire("f1", "relay-b")
        self.assertEqual(b["fence"], 2)
        for q in ("?fence=1", "?fence=3"):
            st, h, body = self.req("PUT", f"/rooms/f1/checkpoint{q}", '{"by": "stale"}')
            problem(self, st, h, body, 409, "lease-lost")
            st, h, body = self.req("DELETE", f"/rooms/f1/checkpoint{q}")
            problem(self, st, h, body, 409, "lease-lost")
        st, ck = self.get("f1", "checkpoint")
        self.assertEqual(ck["state"], {"by": "a", "late": True})
        self.assertEqual(ck["fence"], 1)
        # the new holder writes; after its release the checkpoint is refused too
        self.put_ckpt("f1", 2, {"by": "b"})
        st, _, _ = self.req("DELETE", "/rooms/f1/lease?fence=2")
        self.assertEqual(st, 204)
        st, h, body = self.req("PUT", "/rooms/f1/checkpoint?fence=2", '{"by": "released"}')
        problem(self, st, h, body, 409, "lease-lost")
        self.assertEqual(self.get("f1", "checkpoint")[1]["state"], {"by": "b"})

    def test_bad_checkpoints_store_nothing(self):
        self.acquire("b1", "relay-a")
        self.put_ckpt("b1", 1, {"good": 1})
        big = {"pad": "x" * 70000}
        cases = [
            ("?fence=1", json.dumps(big), None, 413, "payload-too-large"),
            ("?fence=1", '{"a": 1,', None, 400, "malformed-json"),
            ("?fence=1", '{"a": 1, "a": 2}', None, 400, "malformed-json"),
            ("?fence=1", "[1, 2]", None, 400, "bad-request"),
            ("?fence=1", '"text"', None, 400, "bad-request"),
            ("?fence=1", "", None, 400, "malformed-json"),
            ("?fence=1", '{"a": 1}', {"Content-Type": "text/plain"}, 415,
             "unsupported-media-type"),
            ("", '{"a": 1}', None, 400, "bad-request"),
            ("?fence=abc", '{"a": 1}', None, 400, "bad-request"),
        ]
        for q, body, headers, want, code in cases:
            st, h, b = self.req("PUT", f"/rooms/b1/checkpoint{q}", body, headers=headers)
            problem(self, st, h, b, want, code)
        # over the limit without Content-Length (chunked): 413 too
        st, h, b = self.s.raw("PUT", "/rooms/b1/checkpoint?fence=1",
                              headers={"Authorization": f"Bearer {self.svc}",
                                       "Content-Type": "application/json"},
                              body=json.dumps(big).encode(), chunked=True)
        problem(self, st, h, b, 413, "payload-too-large")
        st, h, b = self.req("PUT", "/rooms/bad!id/checkpoint?fence=1", "{}")
        problem(self, st, h, b, 400, "bad-room-id")
        st, ck = self.get("b1", "checkpoint")
        self.assertEqual((st, ck["state"]), (200, {"good": 1}))
        # just under the limit is fine
        ok = {"pad": "y" * (65536 - 20)}
        self.put_ckpt("b1", 1, ok)
        self.assertEqual(self.get("b1", "checkpoint")[1]["state"], ok)


class Expiry(FleetCase):
    server_args = ("--checkpoint-ttl-s", "1")

    def test_checkpoints_expire(self):
        self.acquire("e1", "relay-a")
        _, put = self.put_ckpt("e1", 1, {"n": 1})
        self.assertEqual(put["expires_in_ms"], 1000)
        self.assertEqual(self.get("e1", "checkpoint")[0], 200)
        harness.wait_until(lambda: self.get("e1", "checkpoint")[0] == 404, timeout=10,
                           what="the checkpoint to expire")
        # a later write replaces it (and purges expired rows): there again
        self.put_ckpt("e1", 1, {"n": 2})
        self.assertEqual(self.get("e1", "checkpoint")[1]["state"], {"n": 2})


class Durability(FleetCase):
    def test_acked_lease_and_checkpoint_survive_kill9(self):
        self.acquire("d1", "relay-a", ttl=60000)
        self.put_ckpt("d1", 1, {"durable": True})
        self.s.proc.kill9()
        self.s.start()
        st, ck = self.get("d1", "checkpoint")
        self.assertEqual((st, ck["state"], ck["fence"]), (200, {"durable": True}, 1))
        st, lease = self.get("d1", "lease")
        self.assertEqual((st, lease["fence"]), (200, 1))
        # the fence counter survived: a release and a new holder get fence 2
        self.assertEqual(self.req("DELETE", "/rooms/d1/lease?fence=1")[0], 204)
        self.assertEqual(self.acquire("d1", "relay-b")[1]["fence"], 2)


if __name__ == "__main__":
    unittest.main()
