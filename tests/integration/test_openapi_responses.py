"""openapi.yaml held to the real roomstate-server: every endpoint and every error the tests
can provoke is sent to a migrated server on a loopback port, and each response is checked
against what openapi.yaml documents for that path, method and status: the status is
documented, the media type is, the body validates against the schema (JSON Schema 2020-12,
python3-jsonschema), every required header is there and matches its schema, a 405's Allow
is the one the path documents.  A last test checks that every documented response of the
rooms and operations endpoints was seen (except 500 and 503, which a healthy server cannot
be made to give from outside)."""
import json
import os
import re
import subprocess
import unittest

import harness
from test_server_fixture import Server, room_doc, tokens

try:
    import jsonschema
    import yaml
except ImportError as e:  # Debian: python3-jsonschema python3-yaml (make deps)
    jsonschema = yaml = None
    IMPORT_ERROR = str(e)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SPEC_PATH = os.path.join(ROOT, "openapi.yaml")
EXAMPLE = os.path.join(ROOT, "examples", "room.json")
# a healthy server cannot be made to answer these from outside (507: a full disk, checked
# against this spec by test_store_faults)
UNCHECKABLE = {"500", "503", "507"}

SEEN = set()  # (path template, method, status) of every checked response


class Contract:
    """openapi.yaml, and the checks of one response against it."""

    def __init__(self, test):
        with open(SPEC_PATH, encoding="utf-8") as f:
            self.spec = yaml.safe_load(f)
        self.test = test
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.spec)

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            node = self.spec
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj

    def validate(self, schema, instance, what):
        validator = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            msgs = "\n".join(f"  at {'/'.join(map(str, e.path)) or '(root)'}: {e.message}"
                             for e in errors[:10])
            self.test.fail(f"{what}: does not match openapi.yaml:\n{msgs}\n"
                           f"value: {json.dumps(instance)[:600]}")

    def response_spec(self, template, method, status):
        item = self.spec["paths"].get(template)
        self.test.assertIsNotNone(item, f"{template} is not in openapi.yaml")
        if status == 405:
            return self.deref(self.spec["components"]["responses"]["MethodNotAllowed"])
        op = item.get(method.lower())
        if method == "HEAD" and op is None:
            op = item.get("get")  # HEAD is served wherever GET is
        self.test.assertIsNotNone(op, f"{method} {template} is not in openapi.yaml")
        resp = op["responses"].get(str(status))
        self.test.assertIsNotNone(
            resp, f"{method} {template} answered {status}, which openapi.yaml does not document")
        return self.deref(resp)

    def check(self, template, method, response, want=None):
        """Checks (status, headers, body) against the spec; returns the parsed body."""
        status, headers, body = response
        what = f"{method} {template} -> {status}"
        if want is not None:
            self.test.assertEqual(status, want, f"{what}: {body[:300]!r}")
        spec = self.response_spec(template, method, status)
        SEEN.add((template, "GET" if method == "HEAD" else method, str(status)))
        for name, h in (spec.get("headers") or {}).items():
            h = self.deref(h)
            value = headers.get(name.lower())
            if h.get("required"):
                self.test.assertIsNotNone(value, f"{what}: no {name} header ({headers})")
            if value is not None:
                self.validate(h["schema"], value, f"{what}: header {name}")
        if status == 405:
            m = re.search(r"Allow: ([A-Z, ]+)`", self.spec["paths"][template]["description"])
            self.test.assertIsNotNone(m, f"{template}: description names no Allow")
            self.test.assertEqual(headers.get("allow"), m.group(1), what)
        content = spec.get("content")
        if method == "HEAD" or not content:
            self.test.assertEqual(body, b"", f"{what}: a body where none is documented")
            return None
        ctype = headers.get("content-type", "")
        media = self.media_type(content, ctype)
        self.test.assertIsNotNone(media, f"{what}: Content-Type {ctype!r} is not documented "
                                         f"({', '.join(content)})")
        if not content[media].get("schema"):
            return body
        if ctype.startswith("text/"):
            doc = body.decode("utf-8")
        else:
            doc = json.loads(body)
        self.validate(content[media]["schema"], doc, what)
        return doc

    @staticmethod
    def media_type(content, ctype):
        """The documented media type a Content-Type matches (parameters the document names
        must be there; others, such as charset, may be added)."""
        got = [p.strip().lower() for p in ctype.split(";")]
        for media in content:
            want = [p.strip().lower() for p in media.split(";")]
            if want[0] == got[0] and all(p in got[1:] for p in want[1:]):
                return media
        return None


@unittest.skipIf(yaml is None, "python3-yaml and python3-jsonschema are needed (make deps)")
class TestOpenApiResponses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = tokens()

    def setUp(self):
        self.c = Contract(self)
        self.s = Server(self, args=["--threads", "2", "--history", "2", "--max-body", "262144"])
        self.t = self.tok["valid"]

    def req(self, method, path, body=None, token="valid", headers=None):
        tok = self.tok[token] if token in self.tok else token
        return self.s.request(method, path, body=body, token=tok, headers=headers)

    # ---- rooms ----
    def test_save(self):
        with open(EXAMPLE, "rb") as f:
            example = f.read()
        S = "/rooms/{room_id}/save"
        doc = self.c.check(S, "POST", self.req("POST", "/rooms/lobby-1/save", example), 201)
        # the numbers examples/README.md shows
        self.assertEqual(doc["objects_saved"], 16)
        self.assertEqual(doc["dropped"], {"transient_held": 5, "placed_room": 9,
                                          "non_durable_properties": 25})
        r = self.req("POST", "/rooms/lobby-1/save", example)
        self.assertEqual(self.c.check(S, "POST", r, 200)["version"], 2)
        self.assertEqual(r[1]["etag"], '"2"')
        self.assertEqual(r[1]["location"], "/rooms/lobby-1/state")
        # If-Match: the current version wins, another one is 412
        self.c.check(S, "POST", self.req("POST", "/rooms/lobby-1/save", example,
                                         headers={"If-Match": '"2"'}), 200)
        self.c.check(S, "POST", self.req("POST", "/rooms/lobby-1/save", example,
                                         headers={"If-Match": '"1"'}), 412)

    def test_save_errors(self):
        S = "/rooms/{room_id}/save"
        p = self.c.check(S, "POST", self.req("POST", "/rooms/lobby-1/save", room_doc(),
                                             token=None), 401)
        self.assertEqual(p["reason"], "missing")
        for bad in ("expired", "wrong-key", "alg-none", "hs512", "garbage", "oversized"):
            self.c.check(S, "POST", self.req("POST", "/rooms/lobby-1/save", room_doc(),
                                             token=bad), 401)
        p = self.c.check(S, "POST", self.req("POST", "/rooms/-bad/save", room_doc()), 400)
        self.assertTrue(p["type"].endswith("/bad-room-id"))
        p = self.c.check(S, "POST", self.req("POST", "/rooms/r/save", '{"manifests": {'), 400)
        self.assertTrue(p["type"].endswith("/malformed-json"))
        self.c.check(S, "POST", self.req("POST", "/rooms/r/save", "{}",
                                         headers={"Content-Type": "text/plain"}), 415)
        self.c.check(S, "POST", self.s.raw("POST", "/rooms/r/save", headers={
            "Authorization": f"Bearer {self.t}", "Content-Type": "application/json"},
            body=b"[" + b"0," * 200000 + b"0]"), 413)
        # 422 lists every problem with its path
        doc = room_doc()
        doc["objects"][0]["manifest_id"] = "crate_v2"
        doc["objects"][1]["properties"]["smell"] = "pine"
        doc["objects"][2]["transform"]["position"] = [1, 2]
        p = self.c.check(S, "POST", self.req("POST", "/rooms/r/save", doc), 422)
        self.assertEqual(sorted(e["path"] for e in p["errors"]),
                         ["objects[0].manifest_id", "objects[1].properties.smell",
                          "objects[2].transform.position"])
        for body in ("[]", "null", '{"manifests": {}}'):
            self.c.check(S, "POST", self.req("POST", "/rooms/r/save", body), 422)

    def test_state(self):
        T = "/rooms/{room_id}/state"
        self.c.check(T, "GET", self.req("GET", "/rooms/never-saved/state"), 404)
        for i in range(3):
            self.assertIn(self.req("POST", "/rooms/r1/save", room_doc(tag=str(i)))[0], (200, 201))
        doc = self.c.check(T, "GET", self.req("GET", "/rooms/r1/state"), 200)
        self.assertEqual(doc["version"], 3)
        self.assertEqual(len(doc["objects"]), 3)
        self.assertEqual(doc["saved_by"]["user_id"], harness.UID1)
        r = self.req("GET", "/rooms/r1/state", headers={"If-None-Match": '"3"'})
        self.c.check(T, "GET", r, 304)
        self.assertEqual(r[1]["etag"], '"3"')
        self.c.check(T, "GET", self.req("GET", "/rooms/r1/state?version=2"), 200)
        self.c.check(T, "GET", self.req("GET", "/rooms/r1/state?version=1"), 404)  # pruned
        for bad in ("0", "-1", "x", "1.5"):
            p = self.c.check(T, "GET", self.req("GET", f"/rooms/r1/state?version={bad}"), 400)
            self.assertTrue(p["type"].endswith("/bad-request"), bad)
        p = self.c.check(T, "GET", self.req("GET", "/rooms/" + "r" * 129 + "/state"), 400)
        self.assertTrue(p["type"].endswith("/bad-room-id"))
        self.c.check(T, "GET", self.req("GET", "/rooms/r1/state", token="bad-uid"), 401)
        head = self.s.raw("HEAD", "/rooms/r1/state", headers={"Authorization": f"Bearer {self.t}"})
        self.c.check(T, "HEAD", head, 200)
        # a service token's save records the service
        svc = harness.token(key="unused", service="relay", service_key=self._service_key())
        self.assertIn(self.req("POST", "/rooms/r1/save", room_doc(), token=svc)[0], (200, 201))
        doc = self.c.check(T, "GET", self.req("GET", "/rooms/r1/state"), 200)
        self.assertEqual(doc["saved_by"].get("service"), "relay")

    def _service_key(self):
        with open(os.path.join(self.s.dir, "service.key"), encoding="utf-8") as f:
            return f.read().strip()

    def test_delete(self):
        T = "/rooms/{room_id}/state"
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/d1/state"), 404)
        self.req("POST", "/rooms/d1/save", room_doc())
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/d1/state",
                                           headers={"If-Match": '"7"'}), 412)
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/d1/state",
                                           headers={"If-Match": '"1"'}), 204)
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/d1/state"), 404)
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/d1/state", token=None), 401)
        self.c.check(T, "DELETE", self.req("DELETE", "/rooms/a%20b/state"), 400)
        # the count goes on after a delete: the next save is not the first (200), version 2
        r = self.req("POST", "/rooms/d1/save", room_doc())
        self.assertEqual(self.c.check("/rooms/{room_id}/save", "POST", r, 200)["version"], 2)

    def test_versions(self):
        V = "/rooms/{room_id}/versions"
        self.c.check(V, "GET", self.req("GET", "/rooms/v1/versions"), 404)
        for i in range(3):
            self.req("POST", "/rooms/v1/save", room_doc(tag=str(i)))
        doc = self.c.check(V, "GET", self.req("GET", "/rooms/v1/versions"), 200)
        self.assertEqual([v["version"] for v in doc["versions"]], [3, 2])  # --history 2
        self.c.check(V, "GET", self.req("GET", "/rooms/v1/versions", token="hs384"), 401)
        self.c.check(V, "GET", self.req("GET", "/rooms/_x/versions"), 400)

    def test_wrong_methods_and_paths(self):
        for template, path, method in (
                ("/rooms/{room_id}/save", "/rooms/r/save", "GET"),
                ("/rooms/{room_id}/save", "/rooms/r/save", "DELETE"),
                ("/rooms/{room_id}/state", "/rooms/r/state", "POST"),
                ("/rooms/{room_id}/state", "/rooms/r/state", "PUT"),
                ("/rooms/{room_id}/versions", "/rooms/r/versions", "DELETE"),
                ("/healthz", "/healthz", "POST"),
                ("/readyz", "/readyz", "DELETE"),
                ("/metrics", "/metrics", "PUT"),
                ("/livekit/token", "/livekit/token", "GET")):
            if template == "/livekit/token" and not self._livekit_route():
                continue
            r = self.s.raw(method, path, headers={"Authorization": f"Bearer {self.t}"})
            self.c.check(template, method, r, 405)
        nf = self.c.deref(self.c.spec["components"]["responses"]["NotFound"])
        for path in ("/", "/rooms", "/rooms/r", "/rooms/r/other", "/rooms/a%2Fb/state",
                     "/healthz/x"):
            st, h, b = self.req("GET", path)
            self.assertEqual(st, 404, path)
            self.assertTrue(h.get("content-type", "").startswith("application/problem+json"))
            self.c.validate(nf["content"]["application/problem+json"]["schema"],
                            json.loads(b), f"GET {path}")

    # ---- operations ----
    def test_operations(self):
        self.c.check("/healthz", "GET", self.req("GET", "/healthz", token=None), 200)
        self.c.check("/readyz", "GET", self.req("GET", "/readyz", token=None), 200)
        text = self.c.check("/metrics", "GET", self.req("GET", "/metrics", token=None), 200)
        self.assertIn("# TYPE", text)

    # ---- LiveKit ----
    def _livekit_route(self):
        """Whether this server has POST /livekit/token (issue 5) at all."""
        if not hasattr(TestOpenApiResponses, "_has_livekit"):
            out = subprocess.run([harness.binary("roomstate-server"), "--help"],
                                 capture_output=True, text=True, timeout=10)
            TestOpenApiResponses._has_livekit = "livekit" in (out.stdout + out.stderr).lower()
        return TestOpenApiResponses._has_livekit

    def test_livekit_token(self):
        if not self._livekit_route():
            self.skipTest("roomstate-server has no LiveKit options yet (issue 5): "
                          "POST /livekit/token not checked")
        L = "/livekit/token"
        # this server has no LiveKit configuration: 503
        p = self.c.check(L, "POST", self.req("POST", L, {"room": "lobby-1"}), 503)
        self.assertTrue(p["type"].endswith("/service-unavailable"))
        self.c.check(L, "POST", self.req("POST", L, {"room": "lobby-1"}, token=None), 401)
        self.c.check(L, "POST", self.s.raw("POST", L, headers={
            "Authorization": f"Bearer {self.t}", "Content-Type": "application/json"},
            body=b'{"room": "' + b"r" * 300000 + b'"}'), 413)
        # one that has it
        s = Server(self, args=["--threads", "2"], env={
            "LIVEKIT_API_KEY": "APIkey123", "LIVEKIT_API_SECRET": "s" * 32,
            "LIVEKIT_URL": "wss://livekit.example.invalid"})
        r = s.request("POST", L, body={"room": "lobby-1"}, token=self.t)
        doc = self.c.check(L, "POST", r, 200)
        self.assertEqual(doc["identity"], harness.UID1)
        self.assertEqual(doc["url"], "wss://livekit.example.invalid")
        r = s.request("POST", L, body='{"room":', token=self.t)
        self.c.check(L, "POST", r, 400)
        r = s.request("POST", L, body="{}", token=self.t, headers={"Content-Type": "text/plain"})
        self.c.check(L, "POST", r, 415)
        for bad in ({"nope": 1}, {"room": ""}, {"room": "a b"}, {"room": 5}, []):
            p = self.c.check(L, "POST", s.request("POST", L, body=bad, token=self.t), 422)
            self.assertEqual([e["path"] for e in p["errors"]], ["room"])
        # service tokens: with sub, the token is for that user; without, 400
        key = self._service_key()
        svc = harness.token(uid=harness.UID2, key="unused", service="nakama", service_key=key)
        doc = self.c.check(L, "POST", s.request("POST", L, body={"room": "r"}, token=svc), 200)
        self.assertEqual(doc["identity"], harness.UID2)
        svc = harness.token(uid="", key="unused", service="nakama", service_key=key)
        p = self.c.check(L, "POST", s.request("POST", L, body={"room": "r"}, token=svc), 400)
        self.assertTrue(p["type"].endswith("/bad-request"))

    # ---- relay fleet (issue 10) ----
    def test_fleet(self):
        L, C = "/rooms/{room_id}/lease", "/rooms/{room_id}/checkpoint"
        svc = harness.token(uid="", key="unused", service="relay",
                            service_key=self._service_key())
        lease = {"holder": "relay-a", "ttl_ms": 5000}
        json_h = {"Authorization": f"Bearer {svc}", "Content-Type": "application/json"}
        for method, path, body in (("POST", "/rooms/f/lease", lease),
                                   ("GET", "/rooms/f/lease", None),
                                   ("DELETE", "/rooms/f/lease?fence=1", None),
                                   ("PUT", "/rooms/f/checkpoint?fence=1", {}),
                                   ("GET", "/rooms/f/checkpoint", None),
                                   ("DELETE", "/rooms/f/checkpoint?fence=1", None)):
            t = L if "/lease" in path else C
            self.c.check(t, method, self.req(method, path, body, token=None), 401)
            self.c.check(t, method, self.req(method, path, body), 403)  # a player's token
            self.c.check(t, method, self.req(method, "/rooms/-x/" + t.rsplit("/", 1)[1] +
                                             path.partition("?")[1] + path.partition("?")[2],
                                             body, token=svc), 400)
        self.c.check(L, "GET", self.req("GET", "/rooms/f/lease", token=svc), 404)
        self.c.check(L, "DELETE", self.req("DELETE", "/rooms/f/lease?fence=1", token=svc), 404)
        self.c.check(C, "PUT", self.req("PUT", "/rooms/f/checkpoint?fence=1", {}, token=svc), 409)
        self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", lease, token=svc), 200)
        self.c.check(L, "HEAD", self.req("HEAD", "/rooms/f/lease", token=svc), 200)
        self.c.check(L, "GET", self.req("GET", "/rooms/f/lease", token=svc), 200)
        p = self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", dict(lease, holder="b"),
                                             token=svc), 409)
        self.assertEqual(p["holder"], "relay-a")
        self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", dict(lease, fence=7),
                                         token=svc), 409)
        self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", dict(lease, ttl_ms=1),
                                         token=svc), 400)
        self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", "{", token=svc), 400)
        self.c.check(L, "POST", self.req("POST", "/rooms/f/lease", lease, token=svc,
                                         headers={"Content-Type": "text/plain"}), 415)
        self.c.check(L, "POST", self.s.raw("POST", "/rooms/f/lease", headers=json_h,
                                           body=b'{"holder": "' + b"h" * 300000 + b'"}'), 413)
        self.c.check(C, "GET", self.req("GET", "/rooms/f/checkpoint", token=svc), 404)
        self.c.check(C, "DELETE", self.req("DELETE", "/rooms/f/checkpoint?fence=1", token=svc),
                     404)
        self.c.check(C, "PUT", self.req("PUT", "/rooms/f/checkpoint?fence=1", {"live": 1},
                                        token=svc), 200)
        doc = self.c.check(C, "GET", self.req("GET", "/rooms/f/checkpoint", token=svc), 200)
        self.assertEqual(doc["state"], {"live": 1})
        self.c.check(C, "PUT", self.req("PUT", "/rooms/f/checkpoint?fence=2", {}, token=svc), 409)
        self.c.check(C, "PUT", self.req("PUT", "/rooms/f/checkpoint?fence=1", [], token=svc), 400)
        self.c.check(C, "PUT", self.req("PUT", "/rooms/f/checkpoint?fence=1", {}, token=svc,
                                        headers={"Content-Type": "text/plain"}), 415)
        self.c.check(C, "PUT", self.s.raw("PUT", "/rooms/f/checkpoint?fence=1", headers=json_h,
                                          body=b'{"a": "' + b"x" * (5 << 20) + b'"}'), 413)
        self.c.check(C, "DELETE", self.req("DELETE", "/rooms/f/checkpoint?fence=2", token=svc),
                     409)
        self.c.check(C, "DELETE", self.req("DELETE", "/rooms/f/checkpoint?fence=1", token=svc),
                     204)
        self.c.check(L, "DELETE", self.req("DELETE", "/rooms/f/lease?fence=2", token=svc), 409)
        self.c.check(L, "DELETE", self.req("DELETE", "/rooms/f/lease?fence=1", token=svc), 204)
        for t, path, method in ((L, "/rooms/f/lease", "PUT"), (C, "/rooms/f/checkpoint", "POST")):
            self.c.check(t, method, self.s.raw(method, path, headers=json_h), 405)

    # ---- every documented response seen ----
    def test_zz_every_documented_response_seen(self):
        """Runs last (unittest sorts by name); meaningful only when the whole class ran."""
        wanted = set()
        for template, item in self.c.spec["paths"].items():
            if template == "/livekit/token" and not self._livekit_route():
                continue
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for status in op["responses"]:
                    if status not in UNCHECKABLE:
                        wanted.add((template, method.upper(), status))
        if len(SEEN) < 10:
            self.skipTest("run the whole class to check coverage")
        missing = sorted(wanted - SEEN)
        self.assertEqual(missing, [], "documented but never seen from the real server")


if __name__ == "__main__":
    unittest.main()
