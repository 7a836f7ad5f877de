"""Throwaway PostgreSQL clusters for vchord's end-to-end tests, the demo and the benchmark.

A Cluster lives in a temporary folder under /tmp, listens only on a Unix socket in that folder,
and runs as an unprivileged user when the caller is root (PostgreSQL refuses to run as root).
Use it as a context manager: the server is always stopped, whatever happens.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import tempfile
import time

import psycopg

TEST_USER = os.environ.get("VCHORD_TEST_USER", "vchordtest")

# Lines in a server log that mean a backend crashed or an assertion failed.
CRASH_PATTERNS = re.compile(r"terminated by signal|PANIC:|TRAP:|was terminated by|server process .* exited with exit code [^0]")


def pg_config(path: str, arg: str) -> str:
    return subprocess.run([path, arg], check=True, capture_output=True, text=True).stdout.strip()


def major_of(path: str) -> int:
    return int(re.match(r"PostgreSQL (\d+)", pg_config(path, "--version")).group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, pg_config_path: str, name: str = "test", preload: bool = True, conf: dict | None = None,
                 base: str = "/tmp"):
        self.pg_config_path = pg_config_path
        self.bindir = pg_config(pg_config_path, "--bindir")
        self.major = major_of(pg_config_path)
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"vchord-{name}-pg{self.major}-", dir=base)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.user = TEST_USER if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            shutil.chown(self.dir, user=self.user)
        self.conf = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.dir}'",
            "port": str(self.port),
            "fsync": "off",
            "logging_collector": "off",
        }
        if preload:
            self.conf["shared_preload_libraries"] = "'vchord'"
        self.conf.update(conf or {})
        self.running = False
        self.initdb_args: list[str] = []

    # -- process control ----------------------------------------------------------------
    def _run(self, *args: str, check: bool = True, cwd: str | None = None) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.getuid() == 0:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd=cwd)

    def init(self) -> "Cluster":
        if os.path.exists(os.path.join(self.data, "PG_VERSION")):
            return self  # a copy made by standby()
        self._run(f"{self.bindir}/initdb", "-D", self.data, "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync", *self.initdb_args)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in self.conf.items():
                f.write(f"{k} = {v}\n")
        return self

    def start(self) -> "Cluster":
        r = self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "300", "start",
                      check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr}\n{self.read_log()[-3000:]}")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.running or os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-w", "-t", "120", "-m", mode, "stop", check=False)
        self.running = False

    # -- physical replication -------------------------------------------------------------
    def standby(self, name: str = "standby", conf: dict | None = None) -> "Cluster":
        """A hot standby of this running cluster, copied by pg_basebackup -R (streaming WAL),
        configured but not started; use it as a context manager like any Cluster."""
        s = Cluster(self.pg_config_path, name=name, preload="shared_preload_libraries" in self.conf,
                    conf=conf)
        r = self._run(f"{self.bindir}/pg_basebackup", "-h", self.dir, "-p", str(self.port), "-U", self.user,
                      "-D", s.data, "-R", "-X", "stream", "-c", "fast", "--no-sync", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {r.stderr}")
        with open(os.path.join(s.data, "postgresql.conf"), "a") as f:
            for k, v in s.conf.items():
                f.write(f"{k} = {v}\n")
            f.write("hot_standby = on\n")
        return s

    def wait_replayed(self, standby: "Cluster", timeout: float = 120) -> None:
        """Waits until the standby has replayed everything this primary has written so far."""
        lsn = self.sql("SELECT pg_current_wal_insert_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while True:
            if standby.sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby did not replay up to {lsn}:\n{standby.read_log()[-3000:]}")
            time.sleep(0.05)

    def __enter__(self) -> "Cluster":
        try:
            return self.init().start()
        except BaseException:
            self.stop("immediate")
            raise

    def __exit__(self, *exc) -> None:
        self.stop("immediate" if exc[0] else "fast")
        if exc[0] is None and not os.environ.get("VCHORD_KEEP_CLUSTERS"):  # kept to read logs
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients ------------------------------------------------------------------------
    def connect(self, dbname: str = "postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(host=self.dir, port=self.port, user=self.user, dbname=dbname,
                               autocommit=kw.pop("autocommit", True), **kw)

    def crash_during(self, workers, seconds: float) -> None:
        """Runs each `worker(cluster, stop_event)` on a thread, stops the server with
        `-m immediate` after `seconds`, then restarts it once every worker has returned."""
        stop = threading.Event()
        threads = [threading.Thread(target=w, args=(self, stop)) for w in workers]
        for t in threads:
            t.start()
        time.sleep(seconds)
        self.stop("immediate")
        stop.set()
        for t in threads:
            t.join(timeout=60)
        self.start()

    def client(self, program: str, *args: str) -> subprocess.CompletedProcess:
        """Runs one of the server's client programs (psql, pgbench, ...) against it."""
        return self._run(f"{self.bindir}/{program}", "-h", self.dir, "-p", str(self.port), "-U", self.user,
                         *args, check=False)

    def sql(self, query: str, params=None, dbname: str = "postgres"):
        with self.connect(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    # -- logs ---------------------------------------------------------------------------
    def read_log(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def crashes(self) -> list[str]:
        """Log lines that show a crashed backend, a PANIC or a failed assertion."""
        return [line for line in self.read_log().splitlines()
                if CRASH_PATTERNS.search(line) and "immediate shutdown" not in line]
