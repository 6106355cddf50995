"""A PostgreSQL and a Redis of a fault test's own, on free ports, which it may stop and start at will.

The shared servers on 5432 and 6379 are never touched. Postgres runs as the `postgres` user (it refuses
root) from a data directory under the test's tmp_path; Redis keeps nothing on disk, as in production
without persistence, so a restart loses every queued message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

from tests.e2e.stack import free_port

PG_BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    command = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


class PrivatePostgres:
    def __init__(self):
        # not under pytest's tmp_path, which the postgres user cannot enter; remove() deletes it
        self.home = Path(tempfile.mkdtemp(prefix="rlhf-private-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self.dir = self.home / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"

    def start(self) -> "PrivatePostgres":
        if not self.dir.exists():
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.dir),
                "-l",
                str(self.home / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                "start",
            ]
        )
        deadline = time.time() + 30
        while True:
            try:
                psycopg2.connect(f"{self.url}/postgres").close()
                return self
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop"])

    def running(self) -> bool:
        return (self.dir / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateRedis:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "PrivateRedis":
        log = open(self.workdir / f"redis-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.time() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # abrupt: whatever it held is gone
            self.process.wait(10)
        self.process = None
