"""The database failing under the server (issue #9): a database the server may not write
(file mode, read-only file system), a database another process keeps locked, a full disk.
Each gets a clear answer and loses nothing acknowledged.

Some tests need root (mounting a tmpfs or a read-only bind mount; dropping to an
unprivileged user with setpriv); CI runs as root, elsewhere they skip saying why."""
import os
import shutil
import sqlite3
import subprocess
import unittest

import harness
from test_server_fixture import Server, migrate, room_doc

IS_ROOT = os.geteuid() == 0
SETPRIV = shutil.which("setpriv")


def unprivileged(args):
    """args run as nobody:nogroup (a user without root's permission override)."""
    return [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + args


def give_to_nobody(path):
    out = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True, check=True)
    uid = int(out.stdout)
    gid = int(subprocess.run(["getent", "group", "nogroup"], capture_output=True, text=True,
                             check=True).stdout.split(":")[2])
    os.chown(path, uid, gid)


def server_args(db, port=None):
    return [harness.binary("roomstate-server"), "--listen",
            f"127.0.0.1:{port or harness.free_port()}", "--db", db, "--log-level", "info"]


def run_refused(test, args):
    """A start that must be refused: exits at once (bounded), non-zero."""
    env = {k: v for k, v in os.environ.items() if k != "ROOMSTATE_REQUIRE_KEY"}
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=15, env=env)
    except subprocess.TimeoutExpired:
        test.fail("the server started on a database it cannot write")
    test.assertNotEqual(r.returncode, 0, r.stderr)
    return r.stderr


@unittest.skipUnless(IS_ROOT and SETPRIV, "needs root (to run the server as nobody with "
                     "setpriv and to mount a read-only file system)")
class NotWritable(unittest.TestCase):
    def setUp(self):
        self.dir = harness.tmpdir(self)
        os.chmod(self.dir, 0o755)
        self.db = os.path.join(self.dir, "rooms.db")
        migrate(self.db)
        for p in (self.dir, self.db):
            give_to_nobody(p)

    def test_read_only_file_refused_at_start(self):
        os.chmod(self.db, 0o444)
        err = run_refused(self, unprivileged(server_args(self.db)))
        self.assertIn(self.db, err)
        self.assertIn("not writable", err)
        self.assertIn("Permission denied", err)
        self.assertNotIn("does not exist", err)

    def test_read_only_directory_refused_at_start(self):
        os.chmod(self.dir, 0o555)  # SQLite needs to create rooms.db-wal and -shm there
        err = run_refused(self, unprivileged(server_args(self.db)))
        self.assertIn(f"directory {self.dir}", err)
        self.assertIn("Permission denied", err)

    def test_writable_database_still_starts_as_nobody(self):
        s = Server(self, db=self.db, migrate_db=False, start=False)
        for p in (s.dir, os.path.join(s.dir, "nakama.key"), os.path.join(s.dir, "service.key")):
            give_to_nobody(p)
        os.chmod(s.dir, 0o755)
        s.command = lambda: unprivileged(Server.command(s))
        s.start()
        st, _, b = s.request("GET", "/readyz")
        self.assertEqual(st, 200, b)
        st, _, b = s.request("POST", "/rooms/r1/save", body=room_doc(), token=harness.token(
            key="test-session-key-0123456789abcdef"))
        self.assertEqual(st, 201, b)

    def test_read_only_file_system_named(self):
        mnt = os.path.join(self.dir, "ro")
        os.mkdir(mnt)
        src = os.path.join(self.dir, "src")
        os.mkdir(src)
        shutil.copy(self.db, os.path.join(src, "rooms.db"))
        subprocess.run(["mount", "--bind", src, mnt], check=True, timeout=10)
        self.addCleanup(subprocess.run, ["umount", mnt], timeout=10)
        subprocess.run(["mount", "-o", "remount,ro,bind", mnt], check=True, timeout=10)
        db = os.path.join(mnt, "rooms.db")
        err = run_refused(self, server_args(db))  # as root: only the mount says no
        self.assertIn(db, err)
        self.assertIn("Read-only file system", err)
        self.assertNotIn("does not exist", err)
        self.assertNotIn("roomstate-migrate", err)


if __name__ == "__main__":
    unittest.main()
