"""The relay's /metrics on the players' port names no room and no user (issue #9): only
totals there; the per-room and per-client series are served on the separate metrics
address (--metrics-listen / ROOMSTATE_RELAY_METRICS_LISTEN, off by default), which takes
no WebSocket rooms."""
import os
import subprocess
import unittest

import harness
from relayclient import OP, Relay, RelayClient, run, uid


class MetricsPrivacy(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_players_port_has_no_room_or_user_labels(self):
        async def go():
            a = await RelayClient(self.relay.port, "secret-room-7", uid(1), "alice").connect()
            await a.expect(op=OP["WELCOME"])
            await a.send({"op": OP["REP_TRANSFORM"], "seq": 1,
                          "head": {"p": [0, 1.7, 0], "r": [0, 0, 0, 1]}})
            status, headers, body = harness.http("GET", self.relay.url + "/metrics")
            public = body.decode()
            status_d, _, body_d = harness.http(
                "GET", f"http://127.0.0.1:{self.relay.metrics_port}/metrics")
            detailed = body_d.decode()
            await a.close()
            return status, headers, public, status_d, detailed
        status, headers, public, status_d, detailed = run(go())
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        self.assertIn("roomstate_relay_clients 1", public)  # totals are still there
        self.assertIn("roomstate_relay_rooms 1", public)
        for secret in ("secret-room-7", uid(1), "alice", "room=", "user="):
            self.assertNotIn(secret, public)
        self.assertEqual(status_d, 200)
        self.assertIn('roomstate_relay_room_clients{room="secret-room-7"} 1', detailed)
        self.assertIn(f'user="{uid(1)}"', detailed)

    def test_metrics_address_serves_http_only(self):
        base = f"http://127.0.0.1:{self.relay.metrics_port}"
        self.assertEqual(harness.http("GET", base + "/healthz")[0], 200)
        self.assertEqual(harness.http("GET", base + "/rooms/r1")[0], 404)

        async def go():
            c = RelayClient(self.relay.metrics_port, "r1", uid(1), "alice")
            try:
                await c.connect()
            except Exception as e:  # the upgrade is refused
                return e
            await c.close()
            return None
        self.assertIsNotNone(run(go()), "a room opened on the metrics address")
        self.assertTrue(self.relay.alive())

    def test_flag_documented_off_by_default_and_checked(self):
        exe = harness.binary("roomstate-relay")
        r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
        self.assertIn("--metrics-listen", r.stdout)
        self.assertIn("ROOMSTATE_RELAY_METRICS_LISTEN", r.stdout)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSTATE_")}
        r = subprocess.run([exe, "--metrics-listen", "nohostport", "--listen",
                            f"127.0.0.1:{harness.free_port()}"], capture_output=True,
                           text=True, timeout=10, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--metrics-listen", r.stderr)

    def test_metrics_address_in_use_refuses_to_start(self):
        r = subprocess.run([harness.binary("roomstate-relay"), "--listen",
                            f"127.0.0.1:{harness.free_port()}", "--metrics-listen",
                            f"127.0.0.1:{self.relay.port}"], capture_output=True, text=True,
                           timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("metrics", r.stderr)


if __name__ == "__main__":
    unittest.main()
