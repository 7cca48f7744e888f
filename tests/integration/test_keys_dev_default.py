"""--require-key refuses Nakama's public development key even when it is configured
explicitly (key file or environment), in the server and in the relay (common/keys.c);
without --require-key the configured dev key is accepted with a warning."""
import os
import subprocess
import unittest

import harness
from test_server_fixture import Server

CLEAN = ("NAKAMA_SESSION_KEY", "NAKAMA_SESSION_KEY_FILE", "ROOMSTATE_SERVICE_KEY",
         "ROOMSTATE_SERVICE_KEY_FILE", "ROOMSTATE_REQUIRE_KEY", "ROOMSTATE_SERVER_URL", "PORT")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(extra)
    return env


class DevKeyRefused(unittest.TestCase):
    def setUp(self):
        self.dir = harness.tmpdir(self)
        self.key_file = os.path.join(self.dir, "k")
        with open(self.key_file, "w") as f:
            f.write(harness.DEV_KEY)  # printf defaultencryptionkey > k (no newline)

    def run_bin(self, args, env):
        # a refused start exits at once; a bound in case it starts serving instead
        try:
            r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"{args[0]} started serving with Nakama's development key")
        return r

    def assert_refused(self, r):
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("--require-key", r.stderr)
        self.assertIn("development", r.stderr)
        self.assertIn(harness.DEV_KEY, r.stderr)

    def test_server_refuses_dev_key_file_and_env(self):
        s = Server(self, start=False)
        base = [harness.binary("roomstate-server"), "--listen",
                f"127.0.0.1:{harness.free_port()}", "--db", s.db, "--require-key"]
        self.assert_refused(self.run_bin(base + ["--nakama-key-file", self.key_file],
                                         clean_env()))
        self.assert_refused(self.run_bin(base, clean_env(NAKAMA_SESSION_KEY=harness.DEV_KEY)))
        with open(self.key_file, "w") as f:
            f.write(harness.DEV_KEY + "\n")  # echo adds a newline: the same key
        self.assert_refused(self.run_bin(base + ["--nakama-key-file", self.key_file],
                                         clean_env()))

    def test_relay_refuses_dev_key_file_and_env(self):
        base = [harness.binary("roomstate-relay"), "--listen",
                f"127.0.0.1:{harness.free_port()}", "--require-key"]
        self.assert_refused(self.run_bin(base + ["--nakama-key-file", self.key_file],
                                         clean_env()))
        self.assert_refused(self.run_bin(base, clean_env(NAKAMA_SESSION_KEY=harness.DEV_KEY)))

    def test_without_require_key_the_dev_key_is_used_with_a_warning(self):
        s = Server(self, start=False)
        s.key_args = ["--nakama-key-file", self.key_file]
        s.env = clean_env()
        s.start()
        out = s.proc.output()
        self.assertIn("WARN", out.upper())
        self.assertIn("development default", out)
        st, _, b = s.request("GET", "/rooms/dev/state", token=harness.token())
        self.assertEqual(st, 404, b)


if __name__ == "__main__":
    unittest.main()
