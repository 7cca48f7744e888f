"""LiveKit tokens issued by POST /livekit/token, verified with LiveKit's own server SDK
(livekit-server-sdk's TokenVerifier, tests/livekit/verify.mjs), not only with our code; the
header's alg must be HS256 itself (the SDK's verifier also accepts HS512, which a LiveKit
server refuses)."""
import json
import os
import shutil
import subprocess
import unittest

import harness
from test_server_fixture import SERVICE_KEY, SESSION_KEY, Server

HERE = os.path.dirname(os.path.abspath(__file__))
LK_DIR = os.path.join(HERE, "..", "livekit")
API_KEY = "APIroomstateTest"
API_SECRET = "lk-secret-0123456789abcdefghijklmnopqrstuv"


def ensure_sdk():
    """npm ci into tests/livekit when node_modules is missing (bounded)."""
    if os.path.isdir(os.path.join(LK_DIR, "node_modules", "livekit-server-sdk")):
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=LK_DIR, check=True,
                   timeout=300, stdout=subprocess.DEVNULL)


def verify(token, expect, key=API_KEY, secret=API_SECRET):
    p = subprocess.run(["node", os.path.join(LK_DIR, "verify.mjs"), key, secret, token,
                        json.dumps(expect)], capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


@unittest.skipUnless(shutil.which("node") and shutil.which("npm"), "node and npm are needed")
class TestLiveKitSDK(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_sdk()

    def setUp(self):
        self.s = Server(self, env={"LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET,
                                   "LIVEKIT_URL": "wss://livekit.example.test"})

    def test_session_token_gets_verifiable_livekit_token(self):
        tok = harness.token(uid=harness.UID1, username="alice", key=SESSION_KEY)
        st, _, body = self.s.request("POST", "/livekit/token", body={"room": "lobby-7"}, token=tok)
        self.assertEqual(st, 200, body)
        doc = json.loads(body)
        rc, out = verify(doc["token"], {"identity": harness.UID1, "name": "alice",
                                        "room": "lobby-7"})
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["ok"])
        self.assertEqual(out["claims"]["video"]["room"], "lobby-7")

    def test_service_token_acting_for_a_user(self):
        svc = harness.token(uid=harness.UID2, username="bob", service="nakama",
                            service_key=SERVICE_KEY)
        st, _, body = self.s.request("POST", "/livekit/token", body={"room": "arena"}, token=svc)
        self.assertEqual(st, 200, body)
        rc, out = verify(json.loads(body)["token"], {"identity": harness.UID2, "room": "arena"})
        self.assertEqual(rc, 0, out)

    def test_sdk_refuses_wrong_secret_and_the_check_catches_hs512(self):
        tok = harness.token(key=SESSION_KEY)
        st, _, body = self.s.request("POST", "/livekit/token", body={"room": "r1"}, token=tok)
        lk = json.loads(body)["token"]
        rc, out = verify(lk, {}, secret="not-the-secret-0123456789abcdefghijk")
        self.assertEqual(rc, 1)
        self.assertFalse(out["ok"])
        # a token the SDK would accept but a LiveKit server refuses: same claims, HS512
        import base64
        import hashlib
        import hmac
        h, p, _ = lk.split(".")
        h512 = base64.urlsafe_b64encode(json.dumps({"alg": "HS512", "typ": "JWT"}).encode()
                                        ).rstrip(b"=").decode()
        sig = base64.urlsafe_b64encode(hmac.new(API_SECRET.encode(), f"{h512}.{p}".encode(),
                                                hashlib.sha512).digest()).rstrip(b"=").decode()
        rc, out = verify(f"{h512}.{p}.{sig}", {})
        self.assertEqual(rc, 1)
        self.assertIn("HS256", out["error"])


if __name__ == "__main__":
    unittest.main()
