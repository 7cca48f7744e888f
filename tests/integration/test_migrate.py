"""roomstate-migrate, the real binary: up on a fresh path (creating its directory), up again
(no-op), status, verify, a tampered checksum caught by verify, a database newer than the
binary, --help, usage errors, ROOMSTATE_DB."""
import os
import sqlite3
import subprocess
import unittest

import harness

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema", "sqlite")
MIGRATIONS = len([f for f in os.listdir(SCHEMA) if f.endswith(".sql")])  # compiled in


def migrate(*args, env=None, timeout=30):
    full_env = {k: v for k, v in os.environ.items() if k != "ROOMSTATE_DB"}
    full_env.update(env or {})
    return subprocess.run([harness.binary("roomstate-migrate"), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.dir = harness.tmpdir(self)
        self.db = os.path.join(self.dir, "nested", "deeper", "roomstate.db")

    def up(self):
        r = migrate("--db", self.db, "up")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_up_fresh_then_noop(self):
        self.assertFalse(os.path.exists(self.db))
        r = self.up()
        self.assertTrue(os.path.exists(self.db))
        self.assertIn(f"applied {MIGRATIONS} migration(s), schema now at version {MIGRATIONS}",
                      r.stdout)
        with sqlite3.connect(self.db) as c:
            tables = {n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self.assertTrue({"rooms", "room_versions", "schema_migrations"} <= tables)
            rows = c.execute("SELECT version, name, checksum, applied_at FROM schema_migrations"
                             ).fetchall()
            self.assertEqual(c.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        c.close()
        self.assertEqual(len(rows), MIGRATIONS)
        self.assertEqual(rows[0][:2], (1, "rooms"))
        self.assertEqual(rows[1][:2], (2, "fleet"))
        self.assertRegex(rows[0][2], r"^[0-9a-f]{64}$")
        self.assertRegex(rows[0][3], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # the recorded checksum is the sha256 of the shipped file
        import hashlib
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "schema", "sqlite", "0001_rooms.sql"), "rb") as f:
            self.assertEqual(rows[0][2], hashlib.sha256(f.read()).hexdigest())

        r2 = self.up()
        self.assertIn("nothing to apply", r2.stdout)
        with sqlite3.connect(self.db) as c:
            again = c.execute("SELECT version, name, checksum, applied_at FROM schema_migrations"
                              ).fetchall()
        c.close()
        self.assertEqual(again, rows)  # not re-applied, applied_at unchanged

    def test_up_keeps_data(self):
        self.up()
        with sqlite3.connect(self.db) as c:
            c.execute("INSERT INTO rooms VALUES ('r1', 1, 1, 0)")
            c.execute("INSERT INTO room_versions (room_id, version, saved_at_ms, bytes, doc) "
                      "VALUES ('r1', 1, 0, 2, '{}')")
        c.close()
        self.up()
        with sqlite3.connect(self.db) as c:
            self.assertEqual(c.execute("SELECT count(*) FROM room_versions").fetchone()[0], 1)
        c.close()

    def test_status_and_verify(self):
        r = migrate("--db", self.db, "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not exist", r.stderr)
        self.assertIn("up", r.stderr)
        self.assertFalse(os.path.exists(self.db))  # status creates nothing
        self.up()
        r = migrate("--db", self.db, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"0001\s+rooms\s+applied")
        self.assertIn(f"{MIGRATIONS} applied, 0 pending, 0 modified, 0 unknown", r.stdout)
        r = migrate("--db", self.db, "verify")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("verify: ok", r.stdout)

    def test_pending_reported(self):
        # an empty SQLite file: everything pending; verify is still ok (nothing is wrong)
        os.makedirs(os.path.dirname(self.db))
        sqlite3.connect(self.db).close()
        r = migrate("--db", self.db, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"0001\s+rooms\s+pending")
        r = migrate("--db", self.db, "verify")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pending", r.stdout)

    def test_tampered_checksum(self):
        self.up()
        with sqlite3.connect(self.db) as c:
            c.execute("UPDATE schema_migrations SET checksum = ? WHERE version = 1", ("0" * 64,))
        c.close()
        r = migrate("--db", self.db, "verify")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("0001_rooms", r.stderr)
        self.assertIn("changed", r.stderr)
        self.assertIn("FAILED", r.stdout)
        r = migrate("--db", self.db, "status")  # status shows it, exit 0
        self.assertEqual(r.returncode, 0)
        self.assertIn("MODIFIED", r.stdout)
        r = migrate("--db", self.db, "up")  # up refuses to build on it
        self.assertEqual(r.returncode, 3)

    def test_newer_database(self):
        self.up()
        with sqlite3.connect(self.db) as c:
            c.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', ?, "
                      "'2030-01-01T00:00:00.000Z')", ("a" * 64,))
        c.close()
        r = migrate("--db", self.db, "verify")
        self.assertEqual(r.returncode, 3)
        self.assertIn("9999_from_the_future", r.stderr)
        self.assertIn("newer", r.stderr)
        r = migrate("--db", self.db, "up")
        self.assertEqual(r.returncode, 3)
        r = migrate("--db", self.db, "status")
        self.assertIn("UNKNOWN", r.stdout)

    def test_env_db(self):
        r = migrate("up", env={"ROOMSTATE_DB": self.db})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.db))
        # the flag wins over the environment
        other = os.path.join(self.dir, "other.db")
        r = migrate("--db", other, "up", env={"ROOMSTATE_DB": self.db})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(other))

    def test_default_path(self):
        r = subprocess.run([harness.binary("roomstate-migrate"), "up"], capture_output=True,
                           text=True, cwd=self.dir, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "ROOMSTATE_DB"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "data", "roomstate.db")))

    def test_help(self):
        r = migrate("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("up", "status", "verify", "--db", "ROOMSTATE_DB", "./data/roomstate.db",
                     "Exit codes"):
            self.assertIn(word, r.stdout)

    def test_usage_errors(self):
        for args in (["bogus"], [], ["--db", self.db, "up", "extra"], ["--no-such-flag", "up"],
                     ["--db"]):
            r = migrate(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout} {r.stderr}")
            self.assertTrue(r.stderr.strip(), f"{args}: no message")
        self.assertFalse(os.path.exists(self.db))

    def test_unwritable_location(self):
        blocker = os.path.join(self.dir, "file")
        with open(blocker, "w") as f:
            f.write("x")
        r = migrate("--db", os.path.join(blocker, "sub", "x.db"), "up")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot create directory", r.stderr)

    def test_not_a_database(self):
        os.makedirs(os.path.dirname(self.db))
        with open(self.db, "wb") as f:
            f.write(b"this is not a database file at all, just text" * 100)
        for cmd in ("up", "status", "verify"):
            r = migrate("--db", self.db, cmd)
            self.assertEqual(r.returncode, 1, f"{cmd}: {r.stdout} {r.stderr}")
            self.assertIn("roomstate-migrate:", r.stderr)


if __name__ == "__main__":
    unittest.main()
