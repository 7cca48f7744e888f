"""Third-party services the integration tests start themselves: a PostgreSQL cluster
(Debian's `postgresql` package: initdb in a temporary directory, served on a free loopback
port and a unix socket in that directory) and HAProxy (Debian's `haproxy`, foreground,
configuration written to a temporary directory).  Both are started as plain processes and
stopped by pid; no system service is used or touched.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
unprivileged `postgres` user that the Debian package creates (setpriv drops to it).  When
the tests run as an ordinary user, the cluster runs as that user."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

from harness import Proc, free_port, port_open, wait_until


def _pg_bindir():
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not cands:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's "
                           "`postgresql` package (make deps)")
    return os.path.dirname(cands[-1])


def _drop_privileges_prefix():
    """The command prefix that runs a PostgreSQL program as an unprivileged user."""
    if os.geteuid() != 0:
        return [], None
    pw = pwd.getpwnam("postgres")
    return (["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
             "--reset-env"], pw)


class Postgres:
    """A throw-away PostgreSQL cluster.  `dsn(db)` gives a libpq URI for a database on it;
    `stop(mode)` runs the equivalent of `pg_ctl stop -m mode` by signalling the postmaster's
    pid (smart: SIGTERM, fast: SIGINT, immediate: SIGQUIT); `start()` starts it again on the
    same port and data directory."""

    SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}

    def __init__(self, user="roomstate", password="roomstate-test-pw"):
        self.bindir = _pg_bindir()
        self.prefix, pw = _drop_privileges_prefix()
        self.dir = tempfile.mkdtemp(prefix="roomstate-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        self.user = user
        self.password = password
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        if pw is not None:
            for p in (self.dir, self.sock, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self.proc = None
        subprocess.run(self.prefix + [os.path.join(self.bindir, "initdb"), "-D", self.data,
                                      "-U", user, "--pwfile", pwfile, "-A", "scram-sha-256",
                                      "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8",
                                      "--no-sync"],
                       check=True, capture_output=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        os.unlink(pwfile)
        self.start()

    def start(self, timeout=60.0):
        args = self.prefix + [os.path.join(self.bindir, "postgres"), "-D", self.data,
                              "-p", str(self.port), "-k", self.sock,
                              "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on",
                              "-c", "max_connections=200", "-c", "logging_collector=off"]
        # the log lives in the cluster's directory, removed with it by close()
        self.proc = Proc(args, log_path=os.path.join(self.dir, "postgres.log"))
        wait_until(lambda: self.ready() or not self.proc.alive(), timeout=timeout,
                   what="PostgreSQL to accept connections")
        if not self.proc.alive():
            raise RuntimeError("PostgreSQL did not start:\n" + self.proc.output())

    def ready(self):
        r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", "127.0.0.1",
                            "-p", str(self.port), "-t", "1"], capture_output=True, timeout=10)
        return r.returncode == 0

    def stop(self, mode="fast", timeout=30.0):
        if self.proc is not None and self.proc.alive():
            self.proc.p.send_signal(self.SIGNALS[mode])
            self.proc.p.wait(timeout=timeout)
        if self.proc is not None:
            self.proc.stop()

    def psql(self, sql, db="postgres"):
        """Runs SQL as the cluster's superuser over the unix socket; returns stdout."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.sock, "-p", str(self.port), "-U", self.user,
                            "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def dsn(self, db, with_password=False):
        cred = f"{self.user}:{self.password}" if with_password else self.user
        return f"postgresql://{cred}@127.0.0.1:{self.port}/{db}"

    def password_file(self, directory):
        """Writes the password to a file (mode 0600) for ROOMSTATE_DB_PASSWORD_FILE."""
        path = os.path.join(directory, "db-password")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        return path

    def close(self):
        self.stop("fast")
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres(test):
    """A cluster for one test (or class: pass the class and call from setUpClass with
    cls.addClassCleanup); stopped and removed at cleanup."""
    pg = Postgres()
    add = test.addClassCleanup if isinstance(test, type) else test.addCleanup
    add(pg.close)
    return pg


class HAProxy:
    """HAProxy in the foreground (-db) with the given configuration text; `ports` are the
    frontends' loopback ports to wait for.  stop() by pid."""

    def __init__(self, config_text, ports, timeout=20.0):
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy not found: install Debian's `haproxy` package "
                               "(make deps)")
        self.dir = tempfile.mkdtemp(prefix="roomstate-haproxy-")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(config_text)
        r = subprocess.run(["haproxy", "-c", "-f", self.cfg], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"haproxy config invalid:\n{r.stdout}{r.stderr}\n{config_text}")
        self.proc = Proc(["haproxy", "-db", "-f", self.cfg],
                         log_path=os.path.join(self.dir, "haproxy.log"))
        for p in ports:
            wait_until(lambda p=p: port_open(p) or not self.proc.alive(), timeout=timeout,
                       what=f"haproxy to listen on {p}")
        if not self.proc.alive():
            raise RuntimeError("haproxy exited:\n" + self.proc.output())

    def stop(self):
        rc = self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def haproxy(test, config_text, ports):
    hp = HAProxy(config_text, ports)
    add = test.addClassCleanup if isinstance(test, type) else test.addCleanup
    add(hp.stop)
    return hp
