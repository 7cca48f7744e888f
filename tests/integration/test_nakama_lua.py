"""examples/nakama/livekit_token.lua against the real roomstate-server: the module mints a
service token with nk.jwt_generate (key from context.env), calls POST /livekit/token through
nk.http_request acting for context.user_id, and returns the server's answer — no LiveKit
secret anywhere in Lua.  Nakama's runtime is stood in for by tests/nakama/nakama.lua, whose
calls do the real work (HS256 by openssl, HTTP by curl), so the real server judges the token."""
import base64
import json
import os
import shutil
import subprocess
import unittest

import harness
from test_server_fixture import SERVICE_KEY, Server

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LUA = shutil.which("lua5.4")
LK = {"LIVEKIT_API_KEY": "APInakamaTest", "LIVEKIT_API_SECRET": "lk-secret-for-the-lua-test-0123",
      "LIVEKIT_URL": "wss://livekit.example.test"}


def claims_of(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


@unittest.skipUnless(LUA, "lua5.4 (Debian package, in make deps) is needed")
class TestNakamaLuaModule(unittest.TestCase):
    def setUp(self):
        self.s = Server(self, env=LK)

    def call(self, user_id, payload, env):
        p = subprocess.run([LUA, os.path.join(ROOT, "tests", "nakama", "call_rpc.lua"),
                            os.path.join(ROOT, "examples", "nakama"), "livekit_token", user_id,
                            "player-one", payload, json.dumps(env)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def env(self, key=SERVICE_KEY):
        return {"ROOMSTATE_URL": f"http://127.0.0.1:{self.s.port}", "ROOMSTATE_SERVICE_KEY": key}

    def test_rpc_returns_a_livekit_token_for_the_calling_user(self):
        out = self.call(harness.UID2, json.dumps({"room": "lobby-3"}), self.env())
        self.assertTrue(out["ok"], out)
        doc = json.loads(out["result"])
        self.assertEqual(doc["identity"], harness.UID2)
        self.assertEqual(doc["url"], LK["LIVEKIT_URL"])
        c = claims_of(doc["token"])
        self.assertEqual((c["sub"], c["iss"], c["video"]["room"]),
                         (harness.UID2, LK["LIVEKIT_API_KEY"], "lobby-3"))
        self.assertEqual(c["name"], "player-one")  # the usn the module put in its token

    def test_wrong_service_key_is_refused_by_the_server(self):
        out = self.call(harness.UID2, json.dumps({"room": "lobby-3"}),
                        self.env(key="not-the-service-key-000000"))
        self.assertFalse(out["ok"])
        self.assertIn("401", out["error"])

    def test_bad_payload_and_missing_env_fail_before_any_request(self):
        for payload in ["", "[]", json.dumps({"room": ""}), json.dumps({"room": 5}),
                        json.dumps({"name": "lobby"})]:
            out = self.call(harness.UID2, payload, self.env())
            self.assertFalse(out["ok"], payload)
            self.assertIn("payload must be", out["error"])
            self.assertEqual(out.get("code"), 3, payload)  # gRPC INVALID_ARGUMENT
        out = self.call(harness.UID2, json.dumps({"room": "r"}), {})
        self.assertFalse(out["ok"])
        self.assertIn("ROOMSTATE_URL", out["error"])
        out = self.call("", json.dumps({"room": "r"}), self.env())
        self.assertFalse(out["ok"])
        self.assertIn("authenticated user", out["error"])
        self.assertEqual(out.get("code"), 16)  # gRPC UNAUTHENTICATED

    def test_server_down_is_a_clean_unavailable_error(self):
        """nk.http_request raises (naming the address) when nothing listens: the module
        catches it and answers gRPC UNAVAILABLE (14) without the internal address."""
        port = harness.free_port()  # nothing listens there
        env = {"ROOMSTATE_URL": f"http://127.0.0.1:{port}", "ROOMSTATE_SERVICE_KEY": SERVICE_KEY}
        p = subprocess.run([LUA, os.path.join(ROOT, "tests", "nakama", "call_rpc.lua"),
                            os.path.join(ROOT, "examples", "nakama"), "livekit_token",
                            harness.UID2, "player-one", json.dumps({"room": "r"}),
                            json.dumps(env)], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertFalse(out["ok"], out)
        self.assertEqual(out.get("code"), 14, out)  # gRPC UNAVAILABLE
        self.assertNotIn("127.0.0.1", out["error"])
        self.assertNotIn(str(port), out["error"])
        # the address is in the operator's log (the stand-in's stderr), not the answer
        self.assertIn(f"127.0.0.1:{port}", p.stderr)

    def test_no_secret_in_the_lua_module(self):
        import re
        with open(os.path.join(ROOT, "examples", "nakama", "livekit_token.lua")) as f:
            code = re.sub(r"--\[\[.*?\]\]", "", f.read(), flags=re.S)
        code = re.sub(r"--[^\n]*", "", code)
        self.assertIn("nk.jwt_generate", code)
        self.assertNotIn("LIVEKIT", code)  # the module never touches LiveKit's key or secret
        # no key-like literal: every string literal in the code is short or a known text
        for lit in re.findall(r'"([^"\n]*)"', code):
            self.assertFalse(re.fullmatch(r"[A-Za-z0-9+/=_-]{24,}", lit), lit)


if __name__ == "__main__":
    unittest.main()
