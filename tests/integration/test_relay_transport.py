"""roomstate-relay transport: configuration, /healthz and /metrics, the handshake (route, token,
room id), frame limits (oversized, fragmented, binary), SIGTERM.  The real binary on a free
loopback port; real WebSocket clients (python3-websockets)."""
import os
import signal
import subprocess
import unittest

import harness
from relayclient import OP, Relay, RelayClient, connect_refused, raw_connect, run, uid

import websockets


class RelayHttp(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def test_healthz(self):
        status, headers, body = harness.http("GET", self.relay.url + "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(body, b'{"status":"ok"}')

    def test_metrics_text(self):
        status, headers, body = harness.http("GET", self.relay.url + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        for name in ("roomstate_relay_rooms ", "roomstate_relay_clients ",
                     'roomstate_relay_messages_in_total{op="OWNERSHIP_REQUEST"}',
                     'roomstate_relay_messages_out_total{op="WELCOME"}',
                     "roomstate_relay_bytes_in_total ", "roomstate_relay_bytes_out_total ",
                     'roomstate_relay_drops_total{reason="not_owner"}',
                     'roomstate_relay_fanout_seconds_bucket{le="+Inf"}',
                     "roomstate_relay_fanout_seconds_count "):
            self.assertIn(name, text)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                float(line.rpartition(" ")[2])  # every sample has a number
        types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        self.assertEqual(len(types), len(set(types)), "a metric family declared twice")

    def test_metrics_follow_a_session(self):
        async def go():
            a = await RelayClient(self.relay.port, "m1", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "m1", uid(2), "bob").connect()
            await a.expect(op=OP["WELCOME"])
            await b.expect(op=OP["WELCOME"])
            await a.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "ghost"})
            await a.expect(op=OP["OWNERSHIP_DENIED"])
            await a.send({"op": OP["REP_TRANSFORM"], "seq": 1,
                          "head": {"p": [0, 1.7, 0], "r": [0, 0, 0, 1]}})
            await b.expect(op=OP["REP_TRANSFORM"])
            m = self.relay.metrics()
            self.assertEqual(m["roomstate_relay_rooms"], 1)
            self.assertEqual(m["roomstate_relay_clients"], 2)
            self.assertEqual(m['roomstate_relay_room_clients{room="m1"}'], 2)
            self.assertGreaterEqual(m['roomstate_relay_messages_in_total{op="OWNERSHIP_REQUEST"}'],
                                    1)
            self.assertGreaterEqual(m['roomstate_relay_messages_out_total{op="WELCOME"}'], 2)
            self.assertGreaterEqual(m['roomstate_relay_messages_out_total{op="REP_TRANSFORM"}'],
                                    1)
            self.assertGreater(m["roomstate_relay_bytes_in_total"], 0)
            self.assertGreater(m["roomstate_relay_bytes_out_total"], 0)
            self.assertGreaterEqual(m["roomstate_relay_connections_total"], 2)
            self.assertGreater(m["roomstate_relay_fanout_seconds_count"], 0)
            self.assertGreater(m["roomstate_relay_ticks_total"], 0)
            await a.close()
            await b.close()
        run(go())
        harness.wait_until(lambda: self.relay.metrics()["roomstate_relay_clients"] == 0,
                           what="clients gauge back to 0")

    def test_per_client_and_per_room_figures(self):
        """Per-client series (labels room and user) for the clients connected now, their
        values moving with traffic; the per-room fan-out histogram; a client's series go
        away when it leaves (cardinality follows the current load)."""
        def client(m, name, user, **extra):
            labels = f'room="m2",user="{user}"'
            for k, v in extra.items():
                labels += f',{k}="{v}"'
            return m.get(f"roomstate_relay_client_{name}{{{labels}}}")

        async def go():
            a = await RelayClient(self.relay.port, "m2", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "m2", uid(2), "bob").connect()
            await a.expect(op=OP["WELCOME"])
            await b.expect(op=OP["WELCOME"])
            m0 = self.relay.metrics()
            for user in (uid(1), uid(2)):
                for name in ("messages_in_total", "bytes_in_total", "messages_out_total",
                             "bytes_out_total", "frames_out_total", "queued_bytes"):
                    self.assertIsNotNone(client(m0, name, user), (name, user))
            for seq in (1, 2, 3, 2):  # the last one is stale
                await a.send({"op": OP["REP_TRANSFORM"], "seq": seq,
                              "head": {"p": [0, 1.7, 0], "r": [0, 0, 0, 1]}})
            await b.expect(op=OP["REP_TRANSFORM"], pred=lambda m: m["seq"] == 3)
            m1 = self.relay.metrics()
            self.assertGreaterEqual(client(m1, "messages_in_total", uid(1))
                                    - client(m0, "messages_in_total", uid(1)), 4)
            self.assertGreater(client(m1, "bytes_in_total", uid(1)),
                               client(m0, "bytes_in_total", uid(1)))
            self.assertEqual(client(m1, "messages_in_total", uid(2)),
                             client(m0, "messages_in_total", uid(2)))
            self.assertGreater(client(m1, "messages_out_total", uid(2)),
                               client(m0, "messages_out_total", uid(2)))
            self.assertGreater(client(m1, "bytes_out_total", uid(2)),
                               client(m0, "bytes_out_total", uid(2)))
            self.assertEqual(client(m1, "drops_total", uid(1), reason="stale"), 1)
            self.assertIsNone(client(m1, "drops_total", uid(2), reason="stale"))
            self.assertGreaterEqual(client(m1, "queued_bytes", uid(2)), 0)
            # the room's fan-out histogram: moved, cumulative, +Inf = count
            count = m1['roomstate_relay_room_fanout_seconds_count{room="m2"}']
            self.assertGreater(count, m0.get('roomstate_relay_room_fanout_seconds_count'
                                             '{room="m2"}', 0))
            buckets = [(k, v) for k, v in m1.items()
                       if k.startswith('roomstate_relay_room_fanout_seconds_bucket{room="m2"')]
            self.assertEqual(len(buckets), 13)
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values))
            self.assertEqual(m1['roomstate_relay_room_fanout_seconds_bucket'
                                '{room="m2",le="+Inf"}'], count)
            await a.close()
            harness.wait_until(
                lambda: client(self.relay.metrics(), "messages_in_total", uid(1)) is None,
                what="the leaver's series gone")
            self.assertIsNotNone(client(self.relay.metrics(), "messages_in_total", uid(2)))
            await b.close()
        run(go())

    def test_unknown_path_and_method(self):
        status, _, body = harness.http("GET", self.relay.url + "/nope")
        self.assertEqual(status, 404)
        self.assertIn(b"not_found", body)
        status, headers, _ = harness.http("POST", self.relay.url + "/healthz", body="{}")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET")
        self.assertTrue(self.relay.alive())


class RelayHandshake(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self)

    def refused(self, path, headers=None):
        return run(connect_refused(self.relay.port, path, headers))

    def test_missing_token_401(self):
        self.assertEqual(self.refused("/rooms/r1"), 401)

    def test_bad_tokens_401(self):
        good = harness.token(uid=uid(1))
        bad = {
            "garbage": "not.a.token",
            "two_parts": "abc.def",
            "wrong_key": harness.token(uid=uid(1), key="some-other-key"),
            "expired": harness.token(uid=uid(1), ttl=-60),
            "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
            "huge": "a" * 9000,
            "service": harness.token(uid=uid(1), service="roomstate-relay",
                                     service_key="svc-key-for-tests"),
        }
        for name, tok in bad.items():
            with self.subTest(name):
                self.assertEqual(self.refused("/rooms/r1",
                                              {"Authorization": f"Bearer {tok}"}), 401)
                self.assertEqual(self.refused(f"/rooms/r1?token={tok}"), 401)
        self.assertEqual(self.refused("/rooms/r1", {"Authorization": f"Basic {good}"}), 401)
        self.assertTrue(self.relay.alive())

    def test_route_and_room_id(self):
        tok = harness.token(uid=uid(1))
        auth = {"Authorization": f"Bearer {tok}"}
        self.assertEqual(self.refused("/elsewhere", auth), 404)
        self.assertEqual(self.refused("/rooms/a/b", auth), 404)
        self.assertEqual(self.refused("/rooms/a%2Fb", auth), 404)  # decoded: not one segment
        self.assertEqual(self.refused("/rooms/", auth), 400)
        self.assertEqual(self.refused("/rooms/-bad", auth), 400)
        self.assertEqual(self.refused("/rooms/" + "x" * 129, auth), 400)
        self.assertEqual(self.refused("/rooms/bad%20id", auth), 400)
        # route is checked before the token, the token before the room id
        self.assertEqual(self.refused("/nowhere"), 404)
        self.assertEqual(self.refused("/rooms/-bad"), 401)

    def test_token_in_header_or_query(self):
        async def go():
            a = await RelayClient(self.relay.port, "hq", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "hq", uid(2), "bob", query=True).connect()
            wa = await a.expect(op=OP["WELCOME"])
            wb = await b.expect(op=OP["WELCOME"])
            self.assertEqual(wa["user_id"], uid(1))
            self.assertEqual(wb["user_id"], uid(2))
            self.assertEqual(wb["username"], "bob")
            await a.close()
            await b.close()
        run(go())


class RelayFrames(unittest.TestCase):
    def setUp(self):
        self.relay = Relay(self, ["--max-frame", "4096"])

    def test_oversized_binary_fragmented(self):
        async def go():
            a = await RelayClient(self.relay.port, "frames", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "frames", uid(2), "bob").connect()
            await a.expect(op=OP["WELCOME"])
            await b.expect(op=OP["WELCOME"])
            # oversized (one frame): ERROR too_large, connection kept
            await a.send('{"op":30,"pad":"' + "x" * 5000 + '"}')
            err = await a.expect(op=OP["ERROR"], code="too_large")
            self.assertIsInstance(err["message"], str)
            # oversized in fragments: the reassembly bound holds
            await a.send(iter(['{"op":30,"pad":"', "y" * 3000, "z" * 3000, '"}']))
            await a.expect(op=OP["ERROR"], code="too_large")
            # binary: ERROR binary_not_supported
            await a.send(b'{"op":10,"object_id":"x"}')
            await a.expect(op=OP["ERROR"], code="binary_not_supported")
            # a fragmented message under the bound is reassembled and handled: an unknown
            # object is denied, which proves the relay parsed the whole message
            await a.send(iter(['{"op":10,', '"object_id":', '"nothing-here"}']))
            den = await a.expect(op=OP["OWNERSHIP_DENIED"])
            self.assertEqual(den.get("object_id"), "nothing-here")
            # everyone is still served
            self.assertFalse(a.closed)
            await b.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "nothing-either"})
            await b.expect(op=OP["OWNERSHIP_DENIED"])
            await a.close()
            await b.close()
        run(go())
        m = self.relay.metrics()
        self.assertGreaterEqual(m.get('roomstate_relay_drops_total{reason="binary_frame"}', 0), 1)

    def test_binary_flood_closes_with_4400(self):
        async def go():
            a = await RelayClient(self.relay.port, "bin", uid(1), "alice").connect()
            b = await RelayClient(self.relay.port, "bin", uid(2), "bob").connect()
            await a.expect(op=OP["WELCOME"])
            await b.expect(op=OP["WELCOME"])
            for _ in range(40):
                if a.closed:
                    break
                try:
                    await a.send(b"\x00\x01")
                except websockets.exceptions.ConnectionClosed:
                    break
            code, reason = await a.wait_closed()
            self.assertEqual((code, reason), (4400, "bad_input"))
            # bob still served and told alice left
            leave = await b.expect(op=OP["PRESENCE_LEAVE"], user_id=uid(1))
            self.assertIsInstance(leave.get("reason"), str)
            await b.close()
        run(go())
        self.assertTrue(self.relay.alive())


class RelayLargeFrames(unittest.TestCase):
    def test_default_limit_64k_with_fragments(self):
        relay = Relay(self)

        async def go():
            a = await RelayClient(relay.port, "large", uid(1), "alice").connect()
            await a.expect(op=OP["WELCOME"])
            pad = "p" * 20000
            # 60 KB in three fragments: under 64 KiB, reassembled and handled
            await a.send(iter(['{"op":10,"object_id":"big-one","pad":"', pad, pad, pad + '"}']))
            den = await a.expect(op=OP["OWNERSHIP_DENIED"], object_id="big-one")
            self.assertEqual(den["reason"], "unknown_object")
            # 80 KB in four fragments: over the limit, dropped with too_large
            await a.send(iter(['{"op":10,"object_id":"too-big","pad":"', pad, pad, pad,
                               pad + '"}']))
            await a.expect(op=OP["ERROR"], code="too_large")
            # and one unfragmented frame of 70 KB
            await a.send('{"op":10,"object_id":"too-big","pad":"' + "q" * 70000 + '"}')
            await a.expect(op=OP["ERROR"], code="too_large")
            # the connection still works
            await a.send({"op": OP["OWNERSHIP_REQUEST"], "object_id": "small"})
            await a.expect(op=OP["OWNERSHIP_DENIED"], object_id="small")
            await a.close()
        run(go())


class RelayProcess(unittest.TestCase):
    def test_sigterm_closes_peers_with_1001_and_exits_0(self):
        relay = Relay(self)

        async def go():
            a = await RelayClient(relay.port, "bye", uid(1), "alice").connect()
            await a.expect(op=OP["WELCOME"])
            os.kill(relay.proc.pid, signal.SIGTERM)
            code, _ = await a.wait_closed()
            return code
        self.assertEqual(run(go()), 1001)
        self.assertEqual(relay.proc.p.wait(timeout=10), 0)

    def test_sigterm_with_a_client_that_never_reads(self):
        relay = Relay(self)
        silent = raw_connect(relay.port, "mute", harness.token(uid=uid(1), username="mute"))
        self.addCleanup(silent.close)
        harness.wait_until(lambda: relay.metrics()["roomstate_relay_clients"] == 1,
                           what="the silent client in its room")
        os.kill(relay.proc.pid, signal.SIGTERM)
        # the drain is bounded: the relay exits 0 even though this client never answers
        self.assertEqual(relay.proc.p.wait(timeout=15), 0)

    def test_env_port_and_flag_precedence(self):
        port = harness.free_port()
        proc = harness.Proc([harness.binary("roomstate-relay")],
                            env={"PORT": str(port), "ROOMSTATE_RELAY_LISTEN": ""})
        self.addCleanup(proc.stop)
        # ROOMSTATE_RELAY_LISTEN="" is "given" for config but empty: must fail clearly
        proc.p.wait(timeout=10)
        self.assertEqual(proc.p.returncode, 2)
        env = {k: v for k, v in os.environ.items() if k != "ROOMSTATE_RELAY_LISTEN"}
        env["PORT"] = str(port)
        p = subprocess.Popen([harness.binary("roomstate-relay")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_until(lambda: harness.port_open(port), what="relay on $PORT")
            status, _, _ = harness.http("GET", f"http://127.0.0.1:{port}/healthz")
            self.assertEqual(status, 200)
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0)

    def test_bad_configuration_exits_2(self):
        for args in (["--max-players", "0"], ["--grace", "soon"], ["--listen", "nohost"],
                     ["--log-level", "loud"], ["--server-url", "http://127.0.0.1:1"],
                     ["--bogus"]):
            with self.subTest(args=args):
                r = subprocess.run([harness.binary("roomstate-relay"), *args],
                                   capture_output=True, text=True, timeout=10,
                                   env={k: v for k, v in os.environ.items()
                                        if not k.startswith("ROOMSTATE_")})
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.strip())
        r = subprocess.run([harness.binary("roomstate-relay"), "--help"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for flag in ("--listen", "--nakama-key-file", "--server-url", "--service-key-file",
                     "--max-players", "--tick-hz", "--empty-room-ttl", "--max-frame",
                     "--grace", "--log-level"):
            self.assertIn(flag, r.stdout)

    def test_port_in_use_fails(self):
        relay = Relay(self)
        r = subprocess.run([harness.binary("roomstate-relay"), "--listen",
                            f"127.0.0.1:{relay.port}"], capture_output=True, text=True,
                           timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(relay.alive())


if __name__ == "__main__":
    unittest.main()
