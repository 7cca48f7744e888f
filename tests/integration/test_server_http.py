"""roomstate-server against docs/http-api.md: every endpoint and status, headers, the order
of checks, tokens, service tokens, restart, start-up refusals, graceful shutdown."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness
from test_server_fixture import (BACKEND, SERVICE_KEY, SESSION_KEY, Server, db_exec, problem,
                                 raw_request, room_doc, tokens)

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")



def metric(server, name):
    """The value of one unlabelled sample in the server's /metrics (None when absent)."""
    st, h, b = server.request("GET", "/metrics")
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", b.decode(), re.M) if st == 200 else None
    return float(m.group(1)) if m else None

class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = tokens()

    def setUp(self):
        self.s = Server(self, args=["--threads", "2"])
        self.t = self.tok["valid"]

    def save(self, room, doc=None, headers=None, token=None):
        st, h, b = self.s.request("POST", f"/rooms/{room}/save", body=doc or room_doc(),
                                  token=token or self.t, headers=headers)
        return st, h, json.loads(b) if b else None

    def get(self, path, headers=None, token=None):
        st, h, b = self.s.request("GET", path, token=token or self.t, headers=headers)
        return st, h, b


class TestOperations(ServerTest):
    def test_healthz_readyz_metrics(self):
        st, h, b = self.s.request("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(b), {"status": "ok"})
        st, h, b = self.s.request("GET", "/readyz")
        self.assertEqual(st, 200, b)
        st, h, b = self.s.request("HEAD", "/healthz")
        self.assertEqual((st, b), (200, b""))
        self.save("m-room")
        self.s.request("GET", "/rooms/m-room/state", token=self.tok["expired"])
        # requests are counted when libmicrohttpd reports them completed, which can be just
        # after the client has its response: wait (bounded) until both are counted and
        # nothing but the scrape is in flight (an earlier scrape of this loop may not be
        # completed yet when the next one begins)
        want = ('roomstate_http_requests_total{route="/rooms/{room_id}/save",status="201"} 1',
                'roomstate_http_requests_total{route="/rooms/{room_id}/state",status="401"} 1',
                "roomstate_http_requests_in_flight 1\n")

        def scrape():
            st, h, b = self.s.request("GET", "/metrics")
            return (st, h, b) if all(w in b.decode() for w in want) else None
        st, h, b = harness.wait_until(scrape, timeout=10, what="the requests to be counted")
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"), h)
        text = b.decode()
        self.assertRegex(text, r'roomstate_http_requests_total\{route="/healthz",status="200"\} 2\n')
        self.assertIn('roomstate_http_requests_total{route="/rooms/{room_id}/save",status="201"} 1',
                      text)
        self.assertIn('roomstate_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"}',
                      text)
        self.assertIn('roomstate_saves_total{result="created"} 1', text)
        self.assertRegex(text, r"roomstate_stored_bytes_total [1-9]\d*")
        self.assertIn('roomstate_auth_failures_total{reason="expired"} 1', text)
        # nothing else is in flight: only the scrape itself
        self.assertIn("roomstate_http_requests_in_flight 1\n", text)
        for line in text.splitlines():  # every sample line is "name{labels} number"
            if not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? [0-9.e+-]+$')

    def test_readyz_503_when_schema_not_current(self):
        db_exec(self.s.db, "INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 'x', "
                           "'now')")
        try:
            st, h, b = self.s.request("GET", "/readyz")
            problem(self, st, h, b, 503, "not-ready")
            self.assertEqual(self.s.request("GET", "/healthz")[0], 200)  # still serving
        finally:
            db_exec(self.s.db, "DELETE FROM schema_migrations WHERE version = 9999")
        st, h, b = self.s.request("GET", "/readyz")
        self.assertEqual(st, 200, b)

    def test_request_log_line(self):
        self.save("log-room")
        self.assertEqual(self.s.stop(), 0)
        with open(self.s.proc.log_path, encoding="utf-8", errors="replace") as f:
            out = f.read()
        line = [l for l in out.splitlines() if "POST /rooms/log-room/save 201" in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn(harness.UID1, line[0])
        self.assertRegex(line[0], r"201 \d+ [0-9.]+ms")
        self.assertNotIn(self.t, out)  # never a token in the log


class TestSaveAndState(ServerTest):
    def test_save_201_then_200_with_headers_and_counts(self):
        st, h, body = self.save("room-1")
        self.assertEqual(st, 201)
        self.assertEqual(h["etag"], '"1"')
        self.assertEqual(h["location"], "/rooms/room-1/state")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(body["room_id"], "room-1")
        self.assertEqual(body["version"], 1)
        self.assertRegex(body["saved_at"], RFC3339_MS)
        self.assertEqual(body["objects_saved"], 3)
        self.assertEqual(body["dropped"], {"transient_held": 1, "placed_room": 2,
                                           "non_durable_properties": 6})
        st, h, body = self.save("room-1")
        self.assertEqual((st, h["etag"], body["version"]), (200, '"2"', 2))

    def test_state_document_as_the_contract_stores_it(self):
        self.save("room-2", room_doc(tag="first"))
        st, h, b = self.get("/rooms/room-2/state")
        self.assertEqual(st, 200)
        self.assertEqual(h["etag"], '"1"')
        self.assertEqual(h["content-type"], "application/json")
        doc = json.loads(b)
        self.assertEqual(doc["room_id"], "room-2")
        self.assertEqual(doc["version"], 1)
        self.assertRegex(doc["saved_at"], RFC3339_MS)
        self.assertEqual(doc["saved_by"], {"user_id": harness.UID1, "username": "player1"})
        self.assertEqual(list(doc["manifests"]), ["crate_v1"])
        self.assertEqual([o["object_id"] for o in doc["objects"]], ["saved-0", "saved-1",
                                                                     "saved-2"])
        for i, o in enumerate(doc["objects"]):
            self.assertIsNone(o["owner_id"])
            self.assertIsNone(o["held_by"])
            self.assertIs(o["placed"], True)
            self.assertEqual(o["seq"], i)
            self.assertEqual(o["transform"]["scale"], [1, 1, 1])
            self.assertEqual(o["properties"], {"color": f"#{i:06x}", "label": "first"})
        # conditional GET
        st, h, b = self.get("/rooms/room-2/state", headers={"If-None-Match": '"1"'})
        self.assertEqual((st, b, h["etag"]), (304, b"", '"1"'))
        st, h, b = self.get("/rooms/room-2/state", headers={"If-None-Match": 'W/"1"'})
        self.assertEqual(st, 304)
        st, h, b = self.get("/rooms/room-2/state", headers={"If-None-Match": '"7", "8"'})
        self.assertEqual(st, 200)
        st, h, b = self.get("/rooms/room-2/state", headers={"If-None-Match": "*"})
        self.assertEqual(st, 304)
        # a second save changes the ETag; ?version=1 is the earlier document
        self.save("room-2", room_doc(tag="second"))
        st, h, b = self.get("/rooms/room-2/state", headers={"If-None-Match": '"1"'})
        self.assertEqual((st, h["etag"]), (200, '"2"'))
        self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], "second")
        st, h, b = self.get("/rooms/room-2/state?version=1")
        self.assertEqual((st, h["etag"]), (200, '"1"'))
        self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], "first")
        self.assertEqual(json.loads(b)["version"], 1)
        # HEAD carries the headers only
        st, h, b = self.s.request("HEAD", "/rooms/room-2/state", token=self.t)
        self.assertEqual((st, b, h["etag"]), (200, b"", '"2"'))

    def test_bad_and_unknown_versions(self):
        self.save("room-3")
        for bad in ["0", "-1", "abc", "1.5", "", "1e3", "99999999999999999999999"]:
            st, h, b = self.get(f"/rooms/room-3/state?version={bad}")
            problem(self, st, h, b, 400, "bad-request")
        st, h, b = self.get("/rooms/room-3/state?version=2")
        problem(self, st, h, b, 404, "not-found")
        st, h, b = self.get("/rooms/never-saved/state")
        problem(self, st, h, b, 404, "not-found")

    def test_versions_and_history_limit(self):
        for _ in range(3):
            self.save("room-4")
        st, h, b = self.get("/rooms/room-4/versions")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        doc = json.loads(b)
        self.assertEqual(doc["room_id"], "room-4")
        self.assertEqual([v["version"] for v in doc["versions"]], [3, 2, 1])
        for v in doc["versions"]:
            self.assertRegex(v["saved_at"], RFC3339_MS)
            self.assertEqual(v["saved_by"], {"user_id": harness.UID1, "username": "player1"})
            self.assertEqual(v["objects_saved"], 3)
            self.assertGreater(v["bytes"], 100)
        st, h, b = self.get("/rooms/nothing-here/versions")
        problem(self, st, h, b, 404, "not-found")

    def test_history_is_pruned(self):
        s2 = Server(self, args=["--history", "2"])
        for _ in range(3):
            s2.request("POST", "/rooms/h/save", body=room_doc(), token=self.t)
        st, h, b = s2.request("GET", "/rooms/h/versions", token=self.t)
        self.assertEqual([v["version"] for v in json.loads(b)["versions"]], [3, 2])
        st, h, b = s2.request("GET", "/rooms/h/state?version=1", token=self.t)
        problem(self, st, h, b, 404, "not-found")
        st, h, b = s2.request("GET", "/rooms/h/state?version=2", token=self.t)
        self.assertEqual(st, 200)

    def test_delete_with_if_match_and_version_continuity(self):
        self.save("room-5")
        self.save("room-5")
        st, h, b = self.s.request("DELETE", "/rooms/room-5/state", token=self.t,
                                  headers={"If-Match": '"1"'})
        problem(self, st, h, b, 412, "precondition-failed")
        self.assertEqual(self.get("/rooms/room-5/state")[0], 200)
        st, h, b = self.s.request("DELETE", "/rooms/room-5/state", token=self.t,
                                  headers={"If-Match": '"2"'})
        self.assertEqual((st, b), (204, b""))
        self.assertEqual(self.get("/rooms/room-5/state")[0], 404)
        self.assertEqual(self.get("/rooms/room-5/versions")[0], 404)
        st, h, b = self.s.request("DELETE", "/rooms/room-5/state", token=self.t)
        problem(self, st, h, b, 404, "not-found")
        st, h, body = self.save("room-5")  # numbers are never reused
        self.assertIn(st, (200, 201))
        self.assertEqual((body["version"], h["etag"]), (3, '"3"'))
        st, h, b = self.s.request("DELETE", "/rooms/room-5/state", token=self.t)
        self.assertEqual(st, 204)

    def test_save_if_match(self):
        self.assertEqual(self.save("room-6")[0], 201)
        st, h, body = self.save("room-6", headers={"If-Match": '"1"'})
        self.assertEqual((st, body["version"]), (200, 2))
        st, h, b = self.s.request("POST", "/rooms/room-6/save", body=room_doc(), token=self.t,
                                  headers={"If-Match": '"1"'})
        problem(self, st, h, b, 412, "precondition-failed")
        st, h, b = self.s.request("POST", "/rooms/room-6/save", body=room_doc(), token=self.t,
                                  headers={"If-Match": 'W/"2"'})
        problem(self, st, h, b, 412)  # If-Match compares strongly
        st, h, b = self.s.request("POST", "/rooms/room-6/save", body=room_doc(), token=self.t,
                                  headers={"If-Match": "garbage"})
        problem(self, st, h, b, 412)
        self.assertEqual(self.save("room-6", headers={"If-Match": '"5", "2"'})[2]["version"], 3)
        self.assertEqual(self.save("room-6", headers={"If-Match": "*"})[2]["version"], 4)
        st, h, b = self.s.request("POST", "/rooms/fresh-room/save", body=room_doc(),
                                  token=self.t, headers={"If-Match": "*"})
        problem(self, st, h, b, 412)
        st, h, b = self.s.request("POST", "/rooms/fresh-room/save", body=room_doc(),
                                  token=self.t, headers={"If-Match": '"1"'})
        problem(self, st, h, b, 412)
        self.assertEqual(self.get("/rooms/room-6/state")[1]["etag"], '"4"')
        self.assertEqual(self.get("/rooms/fresh-room/state")[0], 404)

    def test_invalid_document_lists_every_error(self):
        doc = room_doc()
        doc["objects"][0]["manifest_id"] = "crate_v2"
        doc["objects"][1]["properties"]["undeclared"] = 1
        doc["objects"][2]["transform"]["position"] = [1, 2]
        doc["objects"].append(dict(doc["objects"][3]))  # duplicate object_id
        st, h, b = self.s.request("POST", "/rooms/room-7/save", body=doc, token=self.t)
        p = problem(self, st, h, b, 422, "invalid-document")
        paths = [e["path"] for e in p["errors"]]
        self.assertGreaterEqual(len(paths), 4, p)
        for want in ("objects[0]", "objects[1]", "objects[2]"):
            self.assertTrue(any(x.startswith(want) for x in paths), (want, paths))
        for e in p["errors"]:
            self.assertTrue(e["message"])
        self.assertEqual(self.get("/rooms/room-7/state")[0], 404)  # nothing stored

    def test_malformed_json_says_where(self):
        body = '{"manifests": {},\n "objects": [1,,]}'
        st, h, b = self.s.request("POST", "/rooms/r/save", body=body, token=self.t)
        p = problem(self, st, h, b, 400, "malformed-json")
        self.assertEqual(p["line"], 2)
        self.assertIn("line 2", p["detail"])
        for bad in ['{"a":1,"a":2}', "", "[1", '"\xff"', "{\"manifests\":{}} trailing"]:
            st, h, b = self.s.request("POST", "/rooms/r/save", body=bad.encode("latin-1"),
                                      token=self.t)
            problem(self, st, h, b, 400, "malformed-json")

    def test_service_tokens(self):
        svc = harness.token(uid=harness.UID2, service="relay", service_key=SERVICE_KEY)
        st, h, body = self.save("svc-room", token=svc)
        self.assertEqual(st, 201)
        doc = json.loads(self.get("/rooms/svc-room/state")[2])
        self.assertEqual(doc["saved_by"]["user_id"], harness.UID2)
        self.assertEqual(doc["saved_by"]["service"], "relay")
        nobody = harness.token(uid="", service="nakama", service_key=SERVICE_KEY)
        self.assertEqual(self.save("svc-room", token=nobody)[0], 200)
        doc = json.loads(self.get("/rooms/svc-room/state", token=nobody)[2])
        self.assertIsNone(doc["saved_by"]["user_id"])
        self.assertEqual(doc["saved_by"]["service"], "nakama")
        vs = json.loads(self.get("/rooms/svc-room/versions")[2])["versions"]
        self.assertEqual([v["saved_by"].get("service") for v in vs], ["nakama", "relay"])
        # a service token signed with the session key is refused
        wrong = harness.token(uid=harness.UID2, service="relay", service_key=SESSION_KEY)
        st, h, b = self.s.request("GET", "/rooms/svc-room/state", token=wrong)
        problem(self, st, h, b, 401, "unauthorized")


class TestChecks(ServerTest):
    def test_tokens(self):
        for name, tok in self.tok.items():
            if name == "valid":
                continue
            st, h, b = self.s.request("GET", "/rooms/r/state", token=tok)
            problem(self, st, h, b, 401, "unauthorized")
            www = h["www-authenticate"]
            self.assertRegex(www, r'^Bearer realm="roomstate", error="invalid_token", '
                                  r'error_description="[^"]+"$', name)
        st, h, b = self.s.request("GET", "/rooms/r/state")
        problem(self, st, h, b, 401, "unauthorized")
        self.assertEqual(h["www-authenticate"], 'Bearer realm="roomstate"')
        st, h, b = self.s.request("GET", "/rooms/r/state",
                                  headers={"Authorization": "Basic dXNlcjpwYXNz"})
        problem(self, st, h, b, 401)
        self.assertTrue(h["www-authenticate"].startswith('Bearer realm="roomstate"'))
        st, h, b = self.s.request("GET", "/rooms/r/state", headers={"Authorization": "Bearer"})
        problem(self, st, h, b, 401)
        self.assertEqual(self.get("/rooms/r/state")[0], 404)  # the valid one passes

    def test_routes_404_405(self):
        for path in ["/", "/rooms", "/rooms/x", "/rooms/x/state/", "/rooms/x/stat",
                     "/rooms/a%2Fb/state", "/rooms/a/b/state", "/healthz/", "/nope"]:
            st, h, b = self.s.raw("GET", path, headers={"Authorization": f"Bearer {self.t}"})
            problem(self, st, h, b, 404, "not-found")
        # a path that decodes to a NUL byte is refused before routing (RFC 9112 §3.2; the
        # request gate, tests/integration/test_http_framing.py)
        for path in ["/rooms/x%00/state", "/rooms/x/state%00"]:
            st, h, b = self.s.raw("GET", path, headers={"Authorization": f"Bearer {self.t}"})
            problem(self, st, h, b, 400, "bad-message")
        for method, path, allow in [("PUT", "/rooms/x/state", "GET, HEAD, DELETE"),
                                    ("GET", "/rooms/x/save", "POST"),
                                    ("PATCH", "/rooms/x/versions", "GET, HEAD"),
                                    ("POST", "/healthz", "GET, HEAD"),
                                    ("DELETE", "/metrics", "GET, HEAD"),
                                    ("BREW", "/readyz", "GET, HEAD")]:
            st, h, b = self.s.raw(method, path)
            problem(self, st, h, b, 405, "method-not-allowed")
            self.assertEqual(h["allow"], allow)

    def test_room_ids(self):
        ok = ["a", "A" * 128, "0.room_x:y-z", "9"]
        bad = ["", "-a", ".a", "_a", ":a", "a" * 129, "a%20b", "a+b", "%C3%A9t%C3%A9",
               "a%22b", "a" * 5000]
        for room in ok:
            st, h, b = self.s.raw("GET", f"/rooms/{room}/state",
                                  headers={"Authorization": f"Bearer {self.t}"})
            self.assertEqual(st, 404, room)  # valid id, never saved
        for room in bad:
            for method, route in [("GET", "state"), ("GET", "versions"), ("DELETE", "state")]:
                st, h, b = self.s.raw(method, f"/rooms/{room}/{route}",
                                      headers={"Authorization": f"Bearer {self.t}"})
                problem(self, st, h, b, 400, "bad-room-id")
            st, h, b = self.s.request("POST", f"/rooms/{room}/save", body=room_doc(),
                                      token=self.t)
            problem(self, st, h, b, 400, "bad-room-id")

    def test_order_of_checks(self):
        big = Server(self, args=["--max-body", "4096"])
        t, bad_tok = self.t, self.tok["expired"]
        J = {"Content-Type": "application/json"}

        def post(path, token=None, headers=None, body=b"{}"):
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {token}"
            return big.raw("POST", path, headers=h, body=body)

        # route before everything
        problem(self, *post("/rooms/a%2Fb/save", bad_tok), 404)
        problem(self, *big.raw("PUT", "/rooms/bad%20id/save", headers={"Authorization": "x"}),
                405)
        # authentication before room id, room id before content type ...
        problem(self, *post("/rooms/bad%20id/save", bad_tok, {"Content-Type": "text/plain"}),
                401, "unauthorized")
        problem(self, *post("/rooms/bad%20id/save", t, {"Content-Type": "text/plain"}), 400,
                "bad-room-id")
        # ... content type before size, size before JSON syntax ...
        huge = b"{" * 5000
        problem(self, *post("/rooms/r/save", t, {"Content-Type": "text/plain"}, huge), 415,
                "unsupported-media-type")
        problem(self, *post("/rooms/r/save", t, J, huge), 413, "payload-too-large")
        # ... JSON syntax before the document, the document before the precondition
        problem(self, *post("/rooms/r/save", t, dict(J, **{"If-Match": '"9"'}), b'{"objects":'),
                400, "malformed-json")
        problem(self, *post("/rooms/r/save", t, dict(J, **{"If-Match": '"9"'}),
                            b'{"objects":{}}'), 422, "invalid-document")
        problem(self, *post("/rooms/r/save", t, dict(J, **{"If-Match": '"9"'}),
                            json.dumps(room_doc(1, 0, 0)).encode()), 412, "precondition-failed")

    def test_content_types(self):
        body = json.dumps(room_doc()).encode()
        for ct in ["text/plain", "application/x-www-form-urlencoded", "application/json-seq",
                   "application/jsonx", "application/json; charset=latin-1", None]:
            h = {"Authorization": f"Bearer {self.t}"}
            if ct:
                h["Content-Type"] = ct
            problem(self, *self.s.raw("POST", "/rooms/ct/save", headers=h, body=body), 415,
                    "unsupported-media-type")
        for i, ct in enumerate(["application/json", "Application/JSON",
                                "application/json; charset=utf-8",
                                'application/json;charset="UTF-8"']):
            st, h, b = self.s.raw("POST", "/rooms/ct/save", body=body,
                                  headers={"Authorization": f"Bearer {self.t}",
                                           "Content-Type": ct})
            self.assertEqual(json.loads(b)["version"], i + 1, ct)

    def test_body_limits_streamed_and_announced(self):
        s2 = Server(self, args=["--max-body", "65536"])
        h = {"Authorization": f"Bearer {self.t}", "Content-Type": "application/json"}
        body = json.dumps(room_doc(400)).encode()
        self.assertGreater(len(body), 65536)
        problem(self, *s2.raw("POST", "/rooms/lim/save", headers=h, body=body), 413,
                "payload-too-large")
        problem(self, *s2.raw("POST", "/rooms/lim/save", headers=h, body=body, chunked=True),
                413, "payload-too-large")
        small = json.dumps(room_doc(3)).encode()
        st, rh, rb = s2.raw("POST", "/rooms/lim/save", headers=h, body=small, chunked=True)
        self.assertEqual(st, 201, rb)
        self.assertEqual(s2.request("GET", "/healthz")[0], 200)

    def test_huge_headers_and_urls_do_not_hurt(self):
        h = {"Authorization": f"Bearer {self.t}", "X-Filler": "x" * 300000}
        try:
            st, rh, rb = self.s.raw("GET", "/rooms/r/state", headers=h)
            self.assertGreaterEqual(st, 400)
            self.assertLess(st, 500)
        except (ConnectionError, OSError):
            pass  # the library may just close the connection
        st, rh, rb = self.s.raw("GET", "/" + "x" * 20000)
        problem(self, st, rh, rb, 404)
        self.assertEqual(self.s.request("GET", "/healthz")[0], 200)


class TestLiveKit(unittest.TestCase):
    def test_livekit_token(self):
        import base64
        import hashlib
        import hmac
        env = {"LIVEKIT_API_KEY": "APIkey123", "LIVEKIT_API_SECRET": "lk-secret-abcdefghijklmnop",
               "LIVEKIT_URL": "wss://livekit.example.test"}
        s = Server(self, env=env)
        tok = harness.token(key=SESSION_KEY)
        st, h, b = s.request("POST", "/livekit/token", body={"room": "lobby-1"}, token=tok)
        self.assertEqual(st, 200, b)
        doc = json.loads(b)
        self.assertEqual(doc["url"], "wss://livekit.example.test")
        self.assertEqual(doc["identity"], harness.UID1)
        self.assertRegex(doc["expires_at"], RFC3339_MS)
        head, payload, sig = doc["token"].split(".")
        dec = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
        self.assertEqual(dec(head)["alg"], "HS256")
        want = hmac.new(env["LIVEKIT_API_SECRET"].encode(), f"{head}.{payload}".encode(),
                        hashlib.sha256).digest()
        self.assertEqual(base64.urlsafe_b64encode(want).rstrip(b"=").decode(), sig)
        claims = dec(payload)
        self.assertEqual((claims["iss"], claims["sub"]), ("APIkey123", harness.UID1))
        self.assertEqual(claims["video"]["room"], "lobby-1")
        self.assertIs(claims["video"]["roomJoin"], True)
        # a service token acting for a user gets that user's token; without sub: 400
        svc = harness.token(uid=harness.UID2, service="nakama", service_key=SERVICE_KEY)
        st, h, b = s.request("POST", "/livekit/token", body={"room": "lobby-1"}, token=svc)
        self.assertEqual((st, json.loads(b)["identity"]), (200, harness.UID2))
        nobody = harness.token(uid="", service="nakama", service_key=SERVICE_KEY)
        st, h, b = s.request("POST", "/livekit/token", body={"room": "lobby-1"}, token=nobody)
        problem(self, st, h, b, 400, "bad-request")
        for bad in [{}, {"room": ""}, {"room": 5}, {"room": "has space"}, []]:
            st, h, b = s.request("POST", "/livekit/token", body=bad, token=tok)
            problem(self, st, h, b, 422, "invalid-document")
        st, h, b = s.request("POST", "/livekit/token", body={"room": "x"})
        problem(self, st, h, b, 401, "unauthorized")
        st, h, b = s.request("GET", "/livekit/token", token=tok)
        problem(self, st, h, b, 405)
        self.assertEqual(h["allow"], "POST")
        # not configured: 503
        s2 = Server(self)
        st, h, b = s2.request("POST", "/livekit/token", body={"room": "lobby-1"}, token=tok)
        problem(self, st, h, b, 503, "service-unavailable")


class TestLifecycle(unittest.TestCase):
    def test_save_restart_read_back(self):
        s = Server(self)
        tok = harness.token(key=SESSION_KEY)
        st, h, b = s.request("POST", "/rooms/persist/save", body=room_doc(5, 1, 1), token=tok)
        self.assertEqual(st, 201)
        before = s.request("GET", "/rooms/persist/state", token=tok)[2]
        self.assertEqual(s.stop(), 0)
        s.start()
        st, h, after = s.request("GET", "/rooms/persist/state", token=tok)
        self.assertEqual((st, h["etag"]), (200, '"1"'))
        self.assertEqual(json.loads(after), json.loads(before))

    def test_sigterm_exits_0_and_finishes_request_in_flight(self):
        s = Server(self)
        tok = harness.token(key=SESSION_KEY)
        body = json.dumps(room_doc(50)).encode()
        head = (f"POST /rooms/inflight/save HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: Bearer {tok}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=20) as c:
            c.sendall(head + body[:100])
            # the request is in flight (begun, not completed) before the signal: /metrics
            # counts it, besides the scrape asking
            harness.wait_until(lambda: (metric(s, "roomstate_http_requests_in_flight") or 0) >= 2,
                               timeout=10, what="the save to be in flight")
            os.kill(s.proc.pid, signal.SIGTERM)
            # the rest of the body only once the server has taken the signal (its log says
            # so), so the request really is in flight while the server stops
            harness.wait_until(lambda: "finishing requests in flight" in s.proc.output(),
                               timeout=10, what="the server's SIGTERM log line")
            # while it drains it takes no new connection: one opened now is closed unanswered
            # (or refused, once the listening socket is gone), whatever it asks
            try:
                with socket.create_connection(("127.0.0.1", s.port), timeout=10) as late:
                    late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(late.recv(65536), b"", "a connection opened after SIGTERM "
                                                             "was served")
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                pass
            c.sendall(body[100:])
            resp = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                resp += chunk
        self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp[:200])
        self.assertEqual(s.proc.p.wait(timeout=15), 0)
        self.assertIn("stopped", s.proc.output())
        s.start()
        self.assertEqual(s.request("GET", "/rooms/inflight/state", token=tok)[0], 200)
        self.assertEqual(s.stop(), 0)

    def test_port_in_use_is_refused(self):
        s = Server(self)
        other = harness.Proc([harness.binary("roomstate-server"), "--listen",
                              f"127.0.0.1:{s.port}", "--db", s.db] + s.key_args, env=s.env)
        try:
            self.assertNotEqual(other.p.wait(timeout=15), 0)
            self.assertIn("cannot listen", other.output())
        finally:
            other.stop()
        self.assertEqual(s.request("GET", "/healthz")[0], 200)

    def test_sigint_exits_0(self):
        s = Server(self)
        self.assertEqual(s.proc.stop(signal.SIGINT), 0)

    def test_refuses_unmigrated_database(self):
        s = Server(self, migrate_db=False, start=False)
        # SQLite names the file in the command; PostgreSQL never repeats the URI (it may
        # hold a password) and says which server it asked instead
        hint = (f"roomstate-migrate --db {s.db} up" if BACKEND == "sqlite" else
                "roomstate-migrate --db URI up")
        p = s.start(wait=False)
        self.assertNotEqual(p.p.wait(timeout=15), 0)
        self.assertIn(hint, p.output())
        db_exec(s.db, "CREATE TABLE unrelated (x INTEGER)")
        p = s.start(wait=False)
        self.assertNotEqual(p.p.wait(timeout=15), 0)
        self.assertIn(hint, p.output())

    def test_dev_key_fallback_and_require_key(self):
        env = {"NAKAMA_SESSION_KEY": "", "NAKAMA_SESSION_KEY_FILE": "",
               "ROOMSTATE_SERVICE_KEY": "", "ROOMSTATE_SERVICE_KEY_FILE": ""}
        clean = {k: v for k, v in os.environ.items() if k not in env}
        s = Server(self, start=False)
        s.key_args = []
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(clean)
            s.args = ["--require-key"]
            p = s.start(wait=False)
            self.assertNotEqual(p.p.wait(timeout=15), 0)
            self.assertIn("require-key", p.output())
            s.args = []
            s.start()
            self.assertIn(harness.DEV_KEY, s.proc.output())
            self.assertIn("WARN", s.proc.output().upper())
            dev = harness.token()  # minted with Nakama's dev key
            st, h, b = s.request("GET", "/rooms/dev/state", token=dev)
            self.assertEqual(st, 404, b)
            self.assertEqual(s.stop(), 0)
            # a key in the environment is used instead
            s.env = dict(s.env, NAKAMA_SESSION_KEY="env-key-123")
            s.args = ["--require-key"]
            s.start()
            st, h, b = s.request("GET", "/rooms/dev/state", token=dev)
            self.assertEqual(st, 401)
            st, h, b = s.request("GET", "/rooms/dev/state",
                                 token=harness.token(key="env-key-123"))
            self.assertEqual(st, 404)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_require_key_refuses_the_public_dev_key(self):
        """--require-key with Nakama's public development key in the key file (or the
        environment) must not start: anyone can mint tokens for that key."""
        d = harness.tmpdir(self)
        kf = os.path.join(d, "k")
        with open(kf, "w") as f:
            f.write(harness.DEV_KEY)
        for name, args, env in (
                ("server file", [harness.binary("roomstate-server"), "--require-key",
                                 "--nakama-key-file", kf], {}),
                ("server env", [harness.binary("roomstate-server"), "--require-key"],
                 {"NAKAMA_SESSION_KEY": harness.DEV_KEY}),
                ("relay file", [harness.binary("roomstate-relay"), "--require-key",
                                "--nakama-key-file", kf], {})):
            full = {k: v for k, v in os.environ.items()
                    if k not in ("NAKAMA_SESSION_KEY", "NAKAMA_SESSION_KEY_FILE")}
            full.update(env)
            extra = ["--db", os.path.join(d, "none.db")] if "server" in name else []
            r = subprocess.run(args + ["--listen", f"127.0.0.1:{harness.free_port()}"] + extra,
                               capture_output=True, text=True, timeout=15, env=full)
            self.assertNotEqual(r.returncode, 0, name)
            self.assertIn("development default", r.stdout + r.stderr, name)

    def test_help_and_bad_flags(self):
        exe = harness.binary("roomstate-server")
        r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for word in ["--listen", "ROOMSTATE_LISTEN", "--db", "ROOMSTATE_DB", "--nakama-key-file",
                     "NAKAMA_SESSION_KEY_FILE", "NAKAMA_SESSION_KEY", "--require-key",
                     "ROOMSTATE_REQUIRE_KEY", "--max-body", "ROOMSTATE_MAX_BODY",
                     "--max-objects", "ROOMSTATE_MAX_OBJECTS", "--history", "ROOMSTATE_HISTORY",
                     "--threads", "ROOMSTATE_THREADS", "--log-level", "ROOMSTATE_LOG_LEVEL",
                     "--service-key-file", "ROOMSTATE_SERVICE_KEY", "--leeway", "8388608",
                     "127.0.0.1:8080"]:
            self.assertIn(word, r.stdout)
        for args in (["--threads", "x"], ["--listen", "nohostport"], ["--log-level", "loud"],
                     ["--max-body", "-1"], ["--bogus"]):
            r = subprocess.run([exe] + args, capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertTrue(r.stderr.strip(), args)


class StateCacheSize(unittest.TestCase):
    """--cache-mb (ROOMSTATE_CACHE_MB): auto by default, sized from the memory available at
    start (1/16, 4 to 256 MiB, server/cachesize.c) and logged; a number sets it; anything
    else is refused at start with exit status 2."""

    def cache_line(self, srv):
        harness.wait_until(lambda: "state cache:" in srv.proc.output(), timeout=10,
                           what="the state cache line in the log")
        m = re.search(r"state cache: (\d+) MiB \(([^)]*)\)", srv.proc.output())
        self.assertIsNotNone(m, srv.proc.output()[-2000:])
        return int(m.group(1)), m.group(2)

    def test_auto_by_default(self):
        srv = Server(self)
        mib, why = self.cache_line(srv)
        self.assertGreaterEqual(mib, 4)
        self.assertLessEqual(mib, 256)
        self.assertIn("MemAvailable", why)
        with open("/proc/meminfo") as f:
            avail = int(re.search(r"MemAvailable:\s+(\d+) kB", f.read()).group(1)) * 1024
        self.assertLessEqual(mib, max(4, avail // 16 // (1 << 20)) + 64)  # memory moves a bit

    def test_number_and_environment(self):
        srv = Server(self, args=["--cache-mb", "7"])
        self.assertEqual(self.cache_line(srv), (7, "set by --cache-mb"))
        srv2 = Server(self, env={"ROOMSTATE_CACHE_MB": "0"})
        self.assertEqual(self.cache_line(srv2)[0], 0)

    def test_bad_values_refused(self):
        srv = Server(self, start=False)
        for bad in ("-1", "65537", "12MB", "Auto", "", "1e3"):
            r = subprocess.run(srv.command() + ["--cache-mb", bad], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertIn("--cache-mb", r.stderr, bad)


if __name__ == "__main__":
    unittest.main()
