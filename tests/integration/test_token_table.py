"""One table of bearer tokens, run against BOTH programs with the same keys (common/auth.c
is their one verifier): roomstate-server (GET /rooms/{id}/state with Authorization: Bearer)
and roomstate-relay (the WebSocket handshake, with Authorization: Bearer and with ?token=).
Each row says whether the token is accepted or refused with 401 (RFC 6750 §3.1), and which
rule it checks: RFC 7515 §2 (unpadded base64url), §4.1.11 (crit), RFC 7519 §4.1.4 (exp),
§4.1.5 (nbf), §4.1.6 (iat), the canonical lower-case uid, --max-token-lifetime.  Repeated
credentials are refused with 400 invalid_request (RFC 6750 §2, §3.1)."""
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from relayclient import Relay  # noqa: E402
from test_server_fixture import SESSION_KEY, Server  # noqa: E402

UID = "3f0c5a8e-6d1b-4c2a-9e7f-000000001001"
LIFETIME = 7200  # both programs run with --max-token-lifetime 7200
HS256 = {"alg": "HS256", "typ": "JWT"}


def b64(data, pad=False):
    s = base64.urlsafe_b64encode(data).decode()
    return s if pad else s.rstrip("=")


def jwt(header, claims, key=SESSION_KEY, pad_header=False, pad_payload=False):
    h = b64(json.dumps(header, separators=(",", ":")).encode(), pad_header)
    p = b64(json.dumps(claims, separators=(",", ":")).encode(), pad_payload)
    sig = b64(hmac.new(key.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{sig}"


def claims(**kw):
    now = int(time.time())
    c = {"tid": "00000000-0000-4000-8000-000000000000", "uid": UID, "usn": "p1",
         "iat": now - 5, "exp": now + 600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def padded_claims():
    """Claims whose JSON length is not a multiple of 3, so base64 needs '=' padding."""
    c = claims()
    for n in range(3):
        c["usn"] = "p" * (1 + n)
        if len(json.dumps(c, separators=(",", ":"))) % 3:
            return c
    raise AssertionError("unreachable")


def table():
    """(name, token, accepted) rows."""
    now = int(time.time())
    pc = padded_claims()
    ph = {"alg": "HS256", "typ": "JWT", "k": "x"}  # 35 bytes: base64 needs '='
    assert len(json.dumps(ph, separators=(",", ":"))) % 3
    return [
        ("valid", jwt(HS256, claims()), True),
        ("valid without iat", jwt(HS256, claims(iat=None)), True),
        ("nbf now (RFC 7519 §4.1.5)", jwt(HS256, claims(nbf=now)), True),
        ("nbf with a fraction, past", jwt(HS256, claims(nbf=now - 10.5)), True),
        ("unknown non-critical header (RFC 7515 §4)", jwt({**HS256, "kid": "k1"}, claims()), True),
        ("lifetime exactly the cap", jwt(HS256, claims(iat=now - 10, exp=now - 10 + LIFETIME)),
         True),
        ("crit names an extension (RFC 7515 §4.1.11)",
         jwt({**HS256, "crit": ["exp"]}, claims()), False),
        ("crit b64 (RFC 7797)", jwt({**HS256, "crit": ["b64"], "b64": False}, claims()), False),
        ("crit empty list (RFC 7515 §4.1.11)", jwt({**HS256, "crit": []}, claims()), False),
        ("nbf in an hour (RFC 7519 §4.1.5)", jwt(HS256, claims(nbf=now + 3600)), False),
        ("nbf a string", jwt(HS256, claims(nbf="now")), False),
        ("nbf null", jwt(HS256, claims(nbf=None) | {"nbf": None}), False),
        ("iat in an hour (RFC 7519 §4.1.6)", jwt(HS256, claims(iat=now + 3600, exp=now + 4000)),
         False),
        ("iat a string", jwt(HS256, claims(iat="yesterday")), False),
        ("upper-case uid", jwt(HS256, claims(uid=UID.upper())), False),
        ("mixed-case uid", jwt(HS256, claims(uid=UID[:-1] + "A")), False),
        ("uid without dashes", jwt(HS256, claims(uid=UID.replace("-", ""))), False),
        ("padded header (RFC 7515 §2)", jwt(ph, claims(), pad_header=True), False),
        ("padded payload (RFC 7515 §2)", jwt(HS256, pc, pad_payload=True), False),
        ("lifetime a second over the cap",
         jwt(HS256, claims(iat=now - 10, exp=now - 10 + LIFETIME + 1)), False),
        ("no iat, exp beyond the cap from now", jwt(HS256, claims(iat=None, exp=now + LIFETIME + 60)),
         False),
        ("exp 2^63-1", jwt(HS256, claims(exp=2 ** 63 - 1)), False),
        ("exp 2^63-1 without iat", jwt(HS256, claims(iat=None, exp=2 ** 63 - 1)), False),
        ("expired (RFC 7519 §4.1.4)", jwt(HS256, claims(iat=now - 100, exp=now - 30)), False),
        ("wrong key", jwt(HS256, claims(), key="not-the-key"), False),
    ]


def status_of(port, request):
    """Sends one raw HTTP/1.1 request; the status of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 "):
        raise AssertionError(f"no HTTP answer: {data[:80]!r}")
    return int(data[9:12])


def handshake(port, path, headers):
    """The relay's answer to a WebSocket handshake."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return status_of(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           f"Sec-WebSocket-Version: 13\r\n{extra}\r\n")


def server_status(server, headers):
    """The server's answer to GET /rooms/token-table/state."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return status_of(server.port, "GET /rooms/token-table/state HTTP/1.1\r\n"
                                  f"Host: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n")


class TokenTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = table()

    def setUp(self):
        args = ["--max-token-lifetime", str(LIFETIME)]
        self.server = Server(self, args=args)
        self.relay = Relay(self, extra_args=self.server.key_args + args)

    def test_table_both_programs(self):
        for name, tok, accepted in self.rows:
            with self.subTest(name):
                auth = [("Authorization", f"Bearer {tok}")]
                s = server_status(self.server, auth)
                r_hdr = handshake(self.relay.port, "/rooms/r1", auth)
                r_query = handshake(self.relay.port, f"/rooms/r1?token={tok}", [])
                if accepted:
                    self.assertIn(s, (200, 404), f"server: {name}")  # 404: no such room yet
                    self.assertEqual(r_hdr, 101, f"relay header: {name}")
                    self.assertEqual(r_query, 101, f"relay query: {name}")
                else:
                    self.assertEqual((s, r_hdr, r_query), (401, 401, 401), name)

    def test_repeated_credentials_relay(self):
        """RFC 6750 §2: one method, once; a second credential is refused (400), never chosen
        between (before: the first ?token= won)."""
        good = jwt(HS256, claims())
        forged = jwt(HS256, claims(), key="forged-key")
        cases = {
            "two Authorization headers": ("/rooms/r1", [("Authorization", f"Bearer {good}"),
                                                       ("Authorization", f"Bearer {forged}")]),
            "two ?token=": (f"/rooms/r1?token={good}&token={forged}", []),
            "two ?token=, forged first": (f"/rooms/r1?token={forged}&token={good}", []),
            "header and ?token=": (f"/rooms/r1?token={good}",
                                   [("Authorization", f"Bearer {good}")]),
        }
        for name, (path, headers) in cases.items():
            with self.subTest(name):
                self.assertEqual(handshake(self.relay.port, path, headers), 400, name)

    def test_repeated_authorization_server(self):
        """The server's side of the same rule lives in its HTTP request gate
        (server/gate.c; RFC 9110 §11.6.2): a valid token followed by a forged one, or the
        forged one first, is 400, never 200."""
        good = jwt(HS256, claims())
        forged = jwt(HS256, claims(), key="forged-key")
        for pair in ((good, forged), (forged, good), (good, good)):
            s = server_status(self.server, [("Authorization", f"Bearer {pair[0]}"),
                                            ("Authorization", f"Bearer {pair[1]}")])
            self.assertEqual(s, 400)

    def test_lifetime_flag_default(self):
        """Without --max-token-lifetime the cap is a day (86400 s), the same in both."""
        now = int(time.time())
        server = Server(self)
        relay = Relay(self, extra_args=server.key_args)
        day = jwt(HS256, claims(iat=now - 10, exp=now - 10 + 86400))
        over = jwt(HS256, claims(iat=now - 10, exp=now - 10 + 86401))
        self.assertIn(server_status(server, [("Authorization", f"Bearer {day}")]), (200, 404))
        self.assertEqual(handshake(relay.port, f"/rooms/r1?token={day}", []), 101)
        self.assertEqual(server_status(server, [("Authorization", f"Bearer {over}")]), 401)
        self.assertEqual(handshake(relay.port, f"/rooms/r1?token={over}", []), 401)


if __name__ == "__main__":
    unittest.main()
