"""Every file of tests/bad-requests/ sent to every route it names: the documented status,
a problem document for every 4xx, nothing changed, the server still alive."""
import base64
import glob
import json
import os
import unittest

import harness
from test_server_fixture import SESSION_KEY, Server, raw_request, room_doc, tokens

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = sorted(glob.glob(os.path.join(HERE, "..", "bad-requests", "*.json")))
ROOM = "bad-req-room"
ROUTES = {
    "save": ("POST", "/rooms/{room}/save"),
    "state": ("GET", "/rooms/{room}/state"),
    "delete": ("DELETE", "/rooms/{room}/state"),
    "versions": ("GET", "/rooms/{room}/versions"),
    "healthz": ("GET", "/healthz"),
    "readyz": ("GET", "/readyz"),
    "metrics": ("GET", "/metrics"),
}


def body_of(spec):
    if "body_json" in spec:
        return json.dumps(spec["body_json"]).encode()
    if "body_b64" in spec:
        return base64.b64decode(spec["body_b64"])
    if "body_repeat" in spec:
        r = spec["body_repeat"]
        if r.get("number"):
            mid = "".join(r["text"].replace(r["number"], str(i)) for i in range(r["times"]))
        else:
            mid = r["text"] * r["times"]
        return (r.get("prefix", "") + mid + r.get("suffix", "")).encode()
    if "body" in spec:
        return spec["body"].encode()
    return None


class TestBadRequests(unittest.TestCase):
    def test_every_bad_request_on_every_route(self):
        self.assertGreater(len(FILES), 50)
        s = Server(self, args=["--threads", "2"])
        toks = tokens()
        toks["none"] = None
        valid = toks["valid"]
        st, h, b = s.request("POST", f"/rooms/{ROOM}/save", body=room_doc(), token=valid)
        self.assertEqual(st, 201)
        sent = 0
        for path in FILES:
            name = os.path.basename(path)
            with open(path) as f:
                spec = json.load(f)
            body = body_of(spec)
            routes = dict(ROUTES)
            if "path" in spec:
                routes = {"path": ("GET", spec["path"])}
            for route, (method, pattern) in routes.items():
                want = spec["expect"].get(route, spec["expect"].get("*"))
                if want is None:
                    continue
                code = spec.get("code")
                if isinstance(code, dict):
                    code = code.get(route)
                method = spec.get("method", method)
                url = pattern.format(room=spec.get("room", ROOM)) + spec.get("path_suffix", "")
                headers = dict(spec.get("headers", {}))
                tok = spec.get("token", "valid")
                if tok == "basic":
                    headers["Authorization"] = "Basic dXNlcjpwYXNz"
                elif tok == "bearer-empty":
                    headers["Authorization"] = "Bearer "
                elif toks[tok] is not None:
                    headers["Authorization"] = f"Bearer {toks[tok]}"
                if body is not None:
                    ct = spec.get("content_type", "application/json")
                    if ct is not None:
                        headers["Content-Type"] = ct
                with self.subTest(file=name, route=route):
                    st, rh, rb = raw_request(s.port, method, url, headers, body or b"",
                                             chunked=spec.get("chunked", False))
                    sent += 1
                    self.assertEqual(st, want, f"{name} {route}: {rb[:300]!r}")
                    if st >= 400:
                        self.assertTrue(rh.get("content-type", "").startswith(
                            "application/problem+json"), rh)
                        doc = json.loads(rb)
                        self.assertEqual(doc["status"], st)
                        self.assertTrue(doc.get("title"))
                        if code:
                            self.assertEqual(doc["type"],
                                             "https://roomstate.dev/problems/" + code)
                    if st == 405:
                        self.assertIn("allow", rh)
                    if st == 401:
                        self.assertTrue(rh["www-authenticate"].startswith(
                            'Bearer realm="roomstate"'))
            # nothing changed, and the server is alive
            self.assertTrue(s.proc.alive(), name)
            st, h, b = s.request("GET", f"/rooms/{ROOM}/state", token=valid)
            self.assertEqual((st, h.get("etag")), (200, '"1"'), name)
            st, h, b = s.request("GET", f"/rooms/{ROOM}/versions", token=valid)
            self.assertEqual(len(json.loads(b)["versions"]), 1, name)
        self.assertGreater(sent, 150)
        self.assertEqual(s.request("GET", "/healthz")[0], 200)
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
