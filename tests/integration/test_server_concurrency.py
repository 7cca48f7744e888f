"""roomstate-server under concurrent clients, and crash safety: many writers to one room and
to many rooms (versions contiguous, nothing lost), If-Match races (one winner per version),
and kill -9 in the middle of a save loop (every acknowledged save survives, integrity ok)."""
import json
import os
import random
import re
import threading
import time
import unittest

import harness
from test_server_fixture import (BACKEND, SESSION_KEY, Server, db_exec, integrity_ok, room_doc,
                                 run_threads)

CLIENTS = 8
SAVES_EACH = 6


def confirmed(server, by):
    """roomstate_state_cache_confirmed_total{by=...} of the server's /metrics."""
    st, _, b = server.request("GET", "/metrics")
    m = re.search(rf'^roomstate_state_cache_confirmed_total{{by="{by}"}} (\d+)$', b.decode(), re.M)
    if st != 200 or not m:
        raise AssertionError(f"no roomstate_state_cache_confirmed_total{{by={by}}} in /metrics")
    return int(m.group(1))


class TestConcurrency(unittest.TestCase):
    def setUp(self):
        self.s = Server(self, args=["--threads", "4", "--history", "1000"])
        self.t = harness.token(key=SESSION_KEY)

    def test_two_servers_one_file_read_after_write(self):
        # A second server on the same database file (SQLite) or database (PostgreSQL): a GET
        # on B whose cache holds version k-1 returns k right after A acknowledged k (each GET
        # reads the current version with the document, docs/http-api.md "GET state").
        b = Server(self, db=self.s.db, migrate_db=False, env=self.s.env,
                   args=["--cache-mb", "16"])
        for k in range(1, 21):
            if k > 1:  # B's cache now holds version k-1
                st, h, _ = b.request("GET", "/rooms/two/state", token=self.t)
                self.assertEqual((st, h["etag"]), (200, f'"{k - 1}"'))
            st, _, body = self.s.request("POST", "/rooms/two/save",
                                         body=room_doc(2, 0, 0, tag=f"t{k}"), token=self.t)
            self.assertIn(st, (200, 201))
            self.assertEqual(json.loads(body)["version"], k)
            st, h, body = b.request("GET", "/rooms/two/state", token=self.t)
            self.assertEqual((st, h["etag"]), (200, f'"{k}"'))
            self.assertEqual(json.loads(body)["version"], k)
            self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], f"t{k}")
        st, _, _ = self.s.request("DELETE", "/rooms/two/state", token=self.t)
        self.assertEqual(st, 204)
        self.assertEqual(b.request("GET", "/rooms/two/state", token=self.t)[0], 404)

    def test_cached_get_sees_every_writer(self):
        # A GET answered from the cache without a query (SQLite: nothing committed since the
        # cache last confirmed the version, docs/storage.md "The state cache") still sees a
        # commit by any writer: another server, and a process that is not roomstate at all
        # (here Python's sqlite3, or psql).
        b = Server(self, db=self.s.db, migrate_db=False, env=self.s.env,
                   args=["--cache-mb", "16"])
        st, _, _ = self.s.request("POST", "/rooms/w/save", body=room_doc(tag="one"), token=self.t)
        self.assertEqual(st, 201)
        for _ in range(3):
            st, h, _ = b.request("GET", "/rooms/w/state", token=self.t)
            self.assertEqual((st, h["etag"]), (200, '"1"'))
        # 304 for the current version from the same confirmation (RFC 9110 section 13.1.2)
        st, h, _ = b.request("GET", "/rooms/w/state", token=self.t,
                             headers={"If-None-Match": '"1"'})
        self.assertEqual((st, h["etag"]), (304, '"1"'))
        by_watch = confirmed(b, "watch")
        if BACKEND == "sqlite":  # the first GET read the store; the next ones did not
            self.assertGreaterEqual(by_watch, 3)
        else:  # PostgreSQL has no such header: every GET reads the current version
            self.assertEqual(by_watch, 0)
        st, _, _ = self.s.request("POST", "/rooms/w/save", body=room_doc(tag="two"), token=self.t)
        self.assertEqual(st, 200)
        st, h, body = b.request("GET", "/rooms/w/state", token=self.t)
        self.assertEqual((st, h["etag"]), (200, '"2"'))
        self.assertEqual(json.loads(body)["objects"][0]["properties"]["label"], "two")
        # a writer that is not roomstate: the room is marked deleted behind both servers
        st, h, _ = b.request("GET", "/rooms/w/state", token=self.t)
        self.assertEqual((st, h["etag"]), (200, '"2"'))
        db_exec(self.s.db, "UPDATE rooms SET current_version = NULL WHERE room_id = 'w'")
        self.assertEqual(b.request("GET", "/rooms/w/state", token=self.t)[0], 404)
        self.assertEqual(b.request("GET", "/rooms/w/state", token=self.t,
                                   headers={"If-None-Match": '"2"'})[0], 404)

    def test_many_writers_one_room(self):
        got = []
        lock = threading.Lock()

        def client(i):
            for k in range(SAVES_EACH):
                st, h, b = self.s.request("POST", "/rooms/shared/save",
                                          body=room_doc(2, 0, 0, tag=f"c{i}-{k}"), token=self.t)
                if st not in (200, 201):
                    raise AssertionError(f"save answered {st}: {b[:200]}")
                body = json.loads(b)
                with lock:
                    got.append((body["version"], f"c{i}-{k}", st))

        self.assertEqual(run_threads(CLIENTS, client), [])
        versions = sorted(v for v, _, _ in got)
        total = CLIENTS * SAVES_EACH
        self.assertEqual(versions, list(range(1, total + 1)))  # contiguous, none lost
        self.assertEqual(sum(1 for _, _, st in got if st == 201), 1)
        # every acknowledged version holds the document its writer sent
        for v, tag, _ in random.sample(got, 10):
            st, h, b = self.s.request("GET", f"/rooms/shared/state?version={v}", token=self.t)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], tag)
        st, h, b = self.s.request("GET", "/rooms/shared/state", token=self.t)
        self.assertEqual(h["etag"], f'"{total}"')
        last_tag = dict((v, t) for v, t, _ in got)[total]
        self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], last_tag)

    def test_many_writers_many_rooms(self):
        def client(i):
            for k in range(SAVES_EACH):
                room = f"room-{i}"
                st, h, b = self.s.request("POST", f"/rooms/{room}/save",
                                          body=room_doc(3, 1, 1, tag=f"{k}"), token=self.t)
                if st != (201 if k == 0 else 200) or json.loads(b)["version"] != k + 1:
                    raise AssertionError(f"{room} save {k}: {st} {b[:200]}")
                st, h, b = self.s.request("GET", f"/rooms/{room}/state", token=self.t)
                doc = json.loads(b)
                # nobody else writes this room: we read exactly what we saved
                if doc["version"] != k + 1 or doc["objects"][0]["properties"]["label"] != f"{k}":
                    raise AssertionError(f"{room}: read {doc['version']} after save {k + 1}")

        self.assertEqual(run_threads(CLIENTS, client), [])
        for i in range(CLIENTS):
            st, h, b = self.s.request("GET", f"/rooms/room-{i}/versions", token=self.t)
            self.assertEqual([v["version"] for v in json.loads(b)["versions"]],
                             list(range(SAVES_EACH, 0, -1)))

    def test_if_match_one_winner_per_version(self):
        st, h, b = self.s.request("POST", "/rooms/race/save", body=room_doc(), token=self.t)
        self.assertEqual(st, 201)
        rounds = 4
        for rnd in range(rounds):
            current = rnd + 1
            barrier = threading.Barrier(CLIENTS)
            results = []
            lock = threading.Lock()

            def client(i):
                barrier.wait(timeout=30)
                st, h, b = self.s.request("POST", "/rooms/race/save",
                                          body=room_doc(tag=f"r{rnd}-c{i}"), token=self.t,
                                          headers={"If-Match": f'"{current}"'})
                with lock:
                    results.append((st, json.loads(b)))

            self.assertEqual(run_threads(CLIENTS, client), [])
            wins = [b for st, b in results if st == 200]
            lost = [b for st, b in results if st == 412]
            self.assertEqual(len(wins), 1, results)
            self.assertEqual(len(lost), CLIENTS - 1, results)
            self.assertEqual(wins[0]["version"], current + 1)
            for p in lost:
                self.assertEqual(p["type"], "https://roomstate.dev/problems/precondition-failed")
        st, h, b = self.s.request("GET", "/rooms/race/versions", token=self.t)
        self.assertEqual([v["version"] for v in json.loads(b)["versions"]],
                         list(range(rounds + 1, 0, -1)))

    def test_readers_during_writes_see_whole_documents(self):
        self.s.request("POST", "/rooms/rw/save", body=room_doc(20, 0, 0, tag="v"), token=self.t)
        stop = threading.Event()

        def writer(i):
            k = 0
            while not stop.is_set() and k < 15:
                st, h, b = self.s.request("POST", "/rooms/rw/save",
                                          body=room_doc(20, 0, 0, tag=f"w{i}-{k}"), token=self.t)
                if st != 200:
                    raise AssertionError(f"save {st}")
                k += 1

        def reader(i):
            for _ in range(30):
                st, h, b = self.s.request("GET", "/rooms/rw/state", token=self.t)
                doc = json.loads(b)
                labels = {o["properties"]["label"] for o in doc["objects"]}
                if st != 200 or len(labels) != 1 or h["etag"] != f'"{doc["version"]}"':
                    raise AssertionError(f"mixed document: {labels} {h.get('etag')}")

        def both(i):
            (writer if i % 2 else reader)(i)

        self.assertEqual(run_threads(CLIENTS, both), [])


class TestCrashSafety(unittest.TestCase):
    def test_kill9_during_saves_keeps_every_acknowledged_save(self):
        s = Server(self, args=["--threads", "2", "--history", "1000"])
        tok = harness.token(key=SESSION_KEY)
        acked = {}  # room -> (version, tag) of the last 2xx
        lock = threading.Lock()
        stop = threading.Event()

        def client(i):
            room = f"crash-{i % 3}"
            k = 0
            while not stop.is_set():
                tag = f"c{i}-{k}"
                try:
                    st, h, b = s.request("POST", f"/rooms/{room}/save",
                                         body=room_doc(10, 2, 1, tag=tag), token=tok, timeout=10)
                except OSError:
                    return  # the server died under us: this save was not acknowledged
                if st in (200, 201):
                    v = json.loads(b)["version"]
                    with lock:
                        if v > acked.get(room, (0, ""))[0]:
                            acked[room] = (v, tag)
                k += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        # kill at an arbitrary point once some saves were acknowledged
        target = 10 + random.randint(0, 20)
        harness.wait_until(lambda: sum(v for v, _ in acked.values()) >= target,
                           timeout=60, what="some acknowledged saves")
        s.proc.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertTrue(integrity_ok(s.db))
        s.start()
        self.assertTrue(acked)
        for room, (v, tag) in acked.items():
            st, h, b = s.request("GET", f"/rooms/{room}/state", token=tok)
            self.assertEqual(st, 200)
            self.assertGreaterEqual(json.loads(b)["version"], v)
            st, h, b = s.request("GET", f"/rooms/{room}/state?version={v}", token=tok)
            self.assertEqual(st, 200, (room, v))
            self.assertEqual(json.loads(b)["objects"][0]["properties"]["label"], tag)
        self.assertEqual(s.stop(), 0)
        self.assertTrue(integrity_ok(s.db))


if __name__ == "__main__":
    unittest.main()
