"""Shared helpers for the integration tests: free loopback ports, processes started and
stopped by pid, bounded waits, tokens minted by the real roomstate-token binary.
Every wait here is bounded; every process a test starts is stopped by pid."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("ROOMSTATE_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
BIN = os.path.abspath(BIN)
DEV_KEY = "defaultencryptionkey"
UID1 = "11111111-1111-4111-8111-111111111111"
UID2 = "22222222-2222-4222-8222-222222222222"


def binary(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is not built (make all)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpdir(test):
    d = tempfile.mkdtemp(prefix="roomstate-it-")
    test.addCleanup(shutil.rmtree, d, True)
    return d


def token(uid=UID1, username="player1", ttl=3600, key=None, service=None, service_key=None):
    args = [binary("roomstate-token"), "--uid", uid, "--username", username, "--ttl", str(ttl)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("NAKAMA_SESSION_KEY", "NAKAMA_SESSION_KEY_FILE",
                        "ROOMSTATE_SERVICE_KEY", "ROOMSTATE_SERVICE_KEY_FILE")}
    if key is not None:  # secrets go through the environment, never argv (ps shows argv)
        env["NAKAMA_SESSION_KEY"] = key
    if service is not None:
        args += ["--service", service]
        env["ROOMSTATE_SERVICE_KEY"] = service_key
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env,
                          timeout=10).stdout.strip()


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    """A started binary; stop() by pid (SIGTERM, then SIGKILL after a bound)."""

    def __init__(self, args, env=None, log_path=None):
        self.args = args
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log_path = log_path or tempfile.mktemp(prefix="roomstate-proc-", suffix=".log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(args, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        self.log.close()
        return self.p.returncode

    def kill9(self):
        return self.stop(signal.SIGKILL)


def http(method, url, body=None, headers=None, timeout=10.0):
    """One HTTP request; returns (status, headers dict with lower-case names, body bytes)."""
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
