"""roomstate-migrate backup FILE / restore FILE (issue #9): an online backup taken while
the server saves with 4 writers holds every save acknowledged before it started; restore
into the stopped server's database (stale -wal and -shm removed) brings exactly that state
back; restore refuses while a server holds the database and refuses corrupt or tampered
files, changing nothing; backup refuses to overwrite an existing FILE without --force."""
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import unittest

import harness
from test_server_fixture import SESSION_KEY, Server, integrity_ok, room_doc

WRITERS = 4


def migrate_cmd(db, *args):
    return subprocess.run([harness.binary("roomstate-migrate"), "--db", db, *args],
                          capture_output=True, text=True, timeout=120)


def room_versions(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(con.execute(
            "SELECT r.room_id, r.current_version FROM rooms r JOIN room_versions v "
            "ON v.room_id = r.room_id AND v.version = r.current_version"))
    finally:
        con.close()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def leftovers(directory):
    return [n for n in os.listdir(directory) if ".tmp-" in n or ".restore-" in n]


class Writers:
    """WRITERS threads saving their own room in a loop; acked[room] = last acked version."""

    def __init__(self, server, tok):
        self.server, self.tok = server, tok
        self.lock = threading.Lock()
        self.acked = {}
        self.errors = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(f"bk-{i}",))
                        for i in range(WRITERS)]
        for t in self.threads:
            t.start()

    def run(self, room):
        doc = room_doc(tag=room)
        while not self.stop.is_set():
            st, _, b = self.server.request("POST", f"/rooms/{room}/save", body=doc,
                                           token=self.tok)
            if st not in (200, 201):
                self.errors.append((st, b))
                return
            with self.lock:
                self.acked[room] = json.loads(b)["version"]

    def snapshot(self):
        with self.lock:
            return dict(self.acked)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


class BackupRestore(unittest.TestCase):
    def setUp(self):
        self.s = Server(self, args=["--history", "3"])
        self.tok = harness.token(key=SESSION_KEY)
        self.dir = harness.tmpdir(self)

    def test_online_backup_during_saves_then_restore(self):
        w = Writers(self.s, self.tok)
        self.addCleanup(w.finish)
        harness.wait_until(lambda: len(w.snapshot()) == WRITERS
                           and min(w.snapshot().values()) >= 5, timeout=60,
                           what="every writer to have saved 5 times")
        before = w.snapshot()  # acknowledged before the backup started
        backup = os.path.join(self.dir, "rooms.backup")
        r = migrate_cmd(self.s.db, "backup", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("backed up", r.stdout)
        # the writers kept going during and after the backup
        n_after = w.snapshot()
        harness.wait_until(lambda: all(w.snapshot()[k] > n_after[k] for k in n_after),
                           timeout=60, what="saves after the backup")
        w.finish()
        self.assertEqual(w.errors, [])
        after = w.snapshot()
        self.assertEqual(leftovers(self.dir), [])
        self.assertTrue(integrity_ok(backup))
        in_backup = room_versions(backup)
        for room, v in before.items():
            self.assertGreaterEqual(in_backup[room], v, f"{room}: acked {v} before the backup")
            self.assertLess(in_backup[room], after[room])
        # a self-contained file: rollback journal mode, no -wal beside it
        with open(backup, "rb") as f:
            self.assertEqual(f.read(20)[18:20], b"\x01\x01")
        self.assertFalse(os.path.exists(backup + "-wal"))

        # the server dies (kill -9): its -wal holds the saves after the backup
        self.s.proc.kill9()
        self.assertTrue(os.path.exists(self.s.db + "-wal"))
        r = migrate_cmd(self.s.db, "restore", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("restored", r.stdout)
        for suffix in ("-wal", "-shm"):
            self.assertFalse(os.path.exists(self.s.db + suffix), suffix)
        self.assertEqual(leftovers(os.path.dirname(self.s.db)), [])
        self.assertTrue(integrity_ok(self.s.db))
        self.s.start()
        for room, v in in_backup.items():
            st, _, b = self.s.request("GET", f"/rooms/{room}/state", token=self.tok)
            self.assertEqual(st, 200, b)
            self.assertEqual(json.loads(b)["version"], v, room)
        st, _, b = self.s.request("POST", "/rooms/bk-0/save", body=room_doc(), token=self.tok)
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["version"], in_backup["bk-0"] + 1)
        self.assertEqual(self.s.stop(), 0)
        self.assertEqual(migrate_cmd(self.s.db, "verify").returncode, 0)

    def make_backup(self):
        st, _, b = self.s.request("POST", "/rooms/one/save", body=room_doc(), token=self.tok)
        self.assertEqual(st, 201, b)
        backup = os.path.join(self.dir, "good.backup")
        r = migrate_cmd(self.s.db, "backup", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        return backup

    def test_restore_refused_while_the_server_runs(self):
        backup = self.make_backup()
        st, _, b = self.s.request("POST", "/rooms/one/save", body=room_doc(), token=self.tok)
        self.assertEqual(st, 200, b)
        r = migrate_cmd(self.s.db, "restore", backup)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("running roomstate-server", r.stderr)
        self.assertIn(self.s.db, r.stderr)
        st, _, b = self.s.request("GET", "/rooms/one/state", token=self.tok)
        self.assertEqual(json.loads(b)["version"], 2)  # untouched
        self.assertEqual(leftovers(os.path.dirname(self.s.db)), [])

    def test_server_refuses_to_start_during_a_restore(self):
        self.assertEqual(self.s.stop(), 0)
        with open(self.s.db, "rb") as f:  # what restore holds while it replaces the file
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            p = self.s.start(wait=False)
            self.assertNotEqual(p.p.wait(timeout=15), 0)
        self.assertIn("restore", p.output())

    def test_restore_refuses_corrupt_and_tampered_files(self):
        backup = self.make_backup()
        self.assertEqual(self.s.stop(), 0)
        db_before = digest(self.s.db)
        cases = {}
        junk = os.path.join(self.dir, "junk")
        with open(junk, "wb") as f:
            f.write(os.urandom(8192))
        cases["junk"] = junk
        torn = os.path.join(self.dir, "torn")
        shutil.copy(backup, torn)
        size = os.path.getsize(torn)
        with open(torn, "r+b") as f:  # scribble over the cells (a page's end) of every page
            for off in range(4096, size, 4096):  # after the first
                f.seek(off + 4096 - 300)
                f.write(os.urandom(300))
        cases["torn"] = torn
        tampered = os.path.join(self.dir, "tampered")
        shutil.copy(backup, tampered)
        con = sqlite3.connect(tampered)
        con.execute("UPDATE schema_migrations SET checksum = ?", ("0" * 64,))
        con.commit()
        con.close()
        cases["tampered"] = tampered
        empty = os.path.join(self.dir, "empty.db")
        sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
        cases["not-roomstate"] = empty
        for name, path in cases.items():
            r = migrate_cmd(self.s.db, "restore", path)
            self.assertEqual(r.returncode, 3, (name, r.stdout, r.stderr))
            self.assertIn(path, r.stderr, name)
            self.assertEqual(digest(self.s.db), db_before, name)
            self.assertEqual(leftovers(os.path.dirname(self.s.db)), [], name)
        self.assertIn("checksum", migrate_cmd(self.s.db, "restore", tampered).stderr)
        missing = migrate_cmd(self.s.db, "restore", os.path.join(self.dir, "nope"))
        self.assertEqual(missing.returncode, 1)
        itself = migrate_cmd(self.s.db, "restore", self.s.db)
        self.assertEqual(itself.returncode, 3)
        self.assertIn("the database itself", itself.stderr)
        live = os.path.join(self.dir, "live.db")  # a raw copy of a live database and its WAL
        shutil.copy(backup, live)
        with open(live + "-wal", "wb") as f:
            f.write(b"")
        r = migrate_cmd(self.s.db, "restore", live)
        self.assertEqual(r.returncode, 3)
        self.assertIn("not a backup", r.stderr)
        self.assertEqual(digest(self.s.db), db_before)

    def test_backup_refuses_an_existing_file_without_force(self):
        target = os.path.join(self.dir, "exists")
        with open(target, "w") as f:
            f.write("precious")
        r = migrate_cmd(self.s.db, "backup", target)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--force", r.stderr)
        with open(target) as f:
            self.assertEqual(f.read(), "precious")
        r = migrate_cmd(self.s.db, "--force", "backup", target)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(integrity_ok(target))
        self.assertEqual(leftovers(self.dir), [])

    def test_usage(self):
        for args in (["backup"], ["restore"], ["backup", "a", "b"], ["up", "extra"]):
            r = migrate_cmd(self.s.db, *args)
            self.assertEqual(r.returncode, 2, args)
        r = migrate_cmd(self.s.db, "--help")
        for word in ("backup FILE", "restore FILE", "--force"):
            self.assertIn(word, r.stdout)


if __name__ == "__main__":
    unittest.main()
