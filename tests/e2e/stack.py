"""A live stack for end-to-end tests: its own PostgreSQL database, gunicorn, and real Celery workers on Redis.

Nothing here is mocked: the server is `gunicorn webapp.wsgi`, the worker is `celery -A webapp worker`,
and the tests talk to them over HTTP and through `manage.py` subprocesses, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
REDIS_DB = 14  # e2e tests; the browser tests and the benchmarks each use their own database, so that
# two stacks running at once never take each other's tasks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_signal(process: subprocess.Popen, sig: int) -> None:
    """Signal a process's whole group (each stack process leads its own)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _server_sql(statement: str, pg: str = PG) -> None:
    """CREATE/DROP DATABASE, which must run outside a transaction."""
    conn = psycopg2.connect(f"{pg}/postgres")
    try:
        conn.autocommit = True
        conn.cursor().execute(statement)
    finally:
        conn.close()


class Stack:
    def __init__(
        self,
        workdir: Path,
        *,
        worker_env: dict | None = None,
        redis_db: int = REDIS_DB,
        pg: str = PG,
        redis_url: str | None = None,
        web_workers: int = 3,
        web_threads: int = 2,
    ):
        """`pg` and `redis_url` point the stack at other servers (the fault tests' private ones); gunicorn runs
        `web_workers` processes of `web_threads` threads."""
        self.workdir = workdir
        self.web_shape = (web_workers, web_threads)
        self.pg = pg
        self.db_name = f"rlhf_e2e_{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webapp.settings.main",
            "DATABASE_URL": f"{pg}/{self.db_name}",
            "REDIS_URL": redis_url or f"redis://127.0.0.1:6379/{redis_db}",
            "DJANGO_SECRET_KEY": "e2e-only-key-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2,
            "LOGIN_RATE": "100000/min",  # every simulated annotator logs in from 127.0.0.1
            "MODEL_DIR": str(workdir / "models"),
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "SAMPLING_QUEUE": "cpu",
            "SAMPLING_REQUEUE_AFTER_S": "15",
            "SAMPLING_SWEEP_EVERY_S": "3",
            **(worker_env or {}),
        }
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Stack":
        _server_sql(f'CREATE DATABASE "{self.db_name}"', self.pg)
        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.manage("migrate", "--noinput", json_result=False)
        log = open(self.workdir / "web.log", "ab")
        self.web = subprocess.Popen(  # its own process group, like the workers: nothing outlives the stack
            [
                sys.executable,
                "-m",
                "gunicorn",
                "webapp.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.web_shape[0]),
                "--threads",
                str(self.web_shape[1]),
                "--timeout",
                "60",
                "--keep-alive",
                "10",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the web server did not start; see {self.workdir / 'web.log'}")

    def worker_start(self, name: str = "w1", queues: str = "cpu,default,training", nice: int = 0) -> subprocess.Popen:
        """A real Celery worker (solo pool: prefork after importing torch can hang) with embedded beat, at CPU
        priority `nice` (0: as the web server)."""
        log = open(self.workdir / f"worker-{name}.log", "ab")
        worker = subprocess.Popen(
            [
                *(["nice", "-n", str(nice)] if nice else []),
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "-Q",
                queues,
                "--pool=solo",
                "-B",
                "--schedule",
                str(self.workdir / f"beat-{name}"),
                "-n",
                f"{name}@%h",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the embedded beat child goes down with it
        )
        self.workers.append(worker)
        return worker

    def worker_log(self, name: str = "w1") -> str:
        path = self.workdir / f"worker-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop every process this stack started, then drop its database (also after a failed start)."""
        processes = [p for p in [*self.workers, self.web] if p is not None]
        for process in processes:
            _group_signal(process, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _group_signal(process, signal.SIGKILL)  # whatever is left of the group: beat children, orphans
            process.wait()
        _server_sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)', self.pg)

    # --- helpers ---------------------------------------------------------------------------
    def manage(self, *args: str, json_result: bool = True, check: bool = True, timeout: float = 300):
        """Run a management command against the stack's database; its final JSON line, parsed."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with (self.workdir / "manage.log").open("a") as log:
            log.write(f"$ manage.py {' '.join(args)}\n{done.stderr}\n")
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        if not json_result:
            return done
        return json.loads(done.stdout.strip().splitlines()[-1])

    def sql(self, query: str, *params):
        with psycopg2.connect(f"{self.pg}/{self.db_name}") as conn:
            cursor = conn.cursor()
            cursor.execute(query, params)
            return cursor.fetchall()

    def staff_session(self, username: str, password: str) -> requests.Session:
        """A browser-like session logged in through the admin login form, for the /dashboard/ pages."""
        session = requests.Session()
        session.get(f"{self.url}/admin/login/", timeout=30)
        answer = session.post(
            f"{self.url}/admin/login/?next=/dashboard/",
            timeout=30,
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/dashboard/",
            },
            headers={"Referer": f"{self.url}/admin/login/"},
        )
        assert answer.status_code == 200 and answer.url.endswith("/dashboard/"), answer.text[:300]
        session.headers["Referer"] = f"{self.url}/dashboard/"  # Django's CSRF check wants it over HTTPS only
        return session

    def batch_open(
        self, name: str, *, policy: str, temperatures: str, target: int, max_new_tokens: int, track: str = "helpfulness"
    ) -> dict:
        """`create_batch --activate` of one registered policy version; the command's JSON."""
        return self.manage(
            "create_batch",
            "--name",
            name,
            "--track",
            track,
            "--policy",
            policy,
            "--temperatures",
            temperatures,
            "--target",
            str(target),
            "--max-new-tokens",
            str(max_new_tokens),
            "--activate",
        )

    def annotators_simulate(
        self, *, users: int, comparisons: int, track: str = "helpfulness", timeout: float = 300, options: tuple = ()
    ) -> dict:
        """`simulate_annotators` against this stack's server over the real API (each turn waited for up to
        120 s), `options` being its other flags; the command's JSON."""
        return self.manage(
            "simulate_annotators",
            "--users",
            str(users),
            "--comparisons",
            str(comparisons),
            "--track",
            track,
            "--url",
            self.url,
            *options,
            "--turn-timeout",
            "120",
            timeout=timeout,
        )

    def dialogue_begin(self, username: str, password: str, track: str = "helpfulness") -> tuple["Api", int]:
        """An existing annotator's client, and the id of a dialogue it has just begun on `track`."""
        annotator = self.client(username, password)
        return annotator, annotator.post("/api/dialogues/", {"track": track}).json()["id"]

    def client(self, username: str, password: str) -> "Api":
        token = requests.post(
            f"{self.url}/api/auth/token/", json={"username": username, "password": password}, timeout=10
        )
        token.raise_for_status()
        return Api(self.url, token.json()["token"])


@contextmanager
def stack_running(workdir: Path, *, worker: bool = True, **options) -> Iterator[Stack]:
    """A started Stack(workdir, **options) with one Celery worker (none with worker=False), stopped on the way
    out, a failed start included: the body of every module's `stack` fixture."""
    running = Stack(workdir, **options)
    try:
        running.start()
        if worker:
            running.worker_start()
        yield running
    finally:
        running.stop()


class Api:
    """A token-authenticated HTTP client for the stack."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, body=None) -> requests.Response:
        return self.session.post(self.url + path, json=body, timeout=30)

    def turn_wait(self, turn_id: int, *, until=("ready", "failed"), timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            turn = self.get(f"/api/turns/{turn_id}/").json()
            if turn["status"] in until:
                return turn
            time.sleep(0.3)
        raise AssertionError(f"turn {turn_id} still {turn['status']} after {timeout}s")
