"""Faults mid-traffic, on a private Postgres and a private Redis: a restart of either, and repeated worker kills.

Each test drives annotators over the REST API while the fault happens and then checks what a user would
notice: clear JSON 503s (never a 500) while a dependency is down, no acknowledged write lost, recovery with
no manual step, and every acknowledged turn `ready` with exactly two samples (or `failed` with a reason).
The sweep and the retries run at their production defaults here (SAMPLING_SWEEP_EVERY_S 15,
SAMPLING_REQUEUE_AFTER_S 330), since "ready within a minute of recovery" is about those defaults.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections import Counter

import pytest
import requests

from tests.e2e.conftest import foreign_model_dir
from tests.e2e.private_servers import PrivatePostgres, PrivateRedis
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

OUTAGE_S = 15
PASSWORD = "pw-" + secrets.token_urlsafe(16)  # never a leading "-", which argparse would read as a flag
PRODUCTION_SWEEP = {"SAMPLING_SWEEP_EVERY_S": "15", "SAMPLING_REQUEUE_AFTER_S": "330"}


@pytest.fixture
def servers(tmp_path):
    pg, broker = PrivatePostgres(), PrivateRedis(tmp_path)
    try:
        pg.start()
        broker.start()
        yield pg, broker
    finally:
        broker.stop()
        pg.remove()


def _stack(tmp_path, pg, broker, **worker_env) -> Stack:
    stack = Stack(
        tmp_path / "stack",
        pg=pg.url,
        redis_url=broker.url,
        worker_env={**PRODUCTION_SWEEP, "LOGIN_RATE": "100000/min", **worker_env},
    )
    (tmp_path / "stack").mkdir()
    try:
        stack.start()
        stack.worker_start()
        model = foreign_model_dir(tmp_path / "model", seed=0)
        stack.manage("create_user", "--username", "ann", "--password", PASSWORD, "--role", "annotator")
        stack.manage("register_model", "--kind", "policy", "--name", "chat-v1", "--path", str(model), "--current")
        stack.manage(
            "create_batch",
            "--name",
            "faults",
            "--track",
            "helpfulness",
            "--policy",
            "chat-v1",
            "--temperatures",
            "0.7,1.2",
            "--target",
            "100000",
            "--max-new-tokens",
            "24",
            "--activate",
        )
    except BaseException:
        stack.stop()  # nothing of a half-built stack outlives the test
        raise
    return stack


class Traffic:
    """An annotator posting a turn in a fresh dialogue every `every_s` and polling it, plus /healthz, on a thread.

    Records every answer as (seconds since start, what, status, JSON or not) and the acknowledged turns."""

    def __init__(self, stack: Stack, every_s: float = 0.7):
        self.stack, self.every_s = stack, every_s
        self.token = stack.client("ann", PASSWORD).session.headers["Authorization"]
        self.answers: list[tuple[float, str, int, bool]] = []
        self.acknowledged: list[int] = []
        self.without_retry_after: list[str] = []  # 503s that do not say when to come back
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.time()

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def _call(self, session: requests.Session, method: str, path: str, what: str, body=None):
        try:
            answer = session.request(method, self.stack.url + path, json=body, timeout=10)
        except requests.RequestException:
            self.answers.append((time.time() - self.started, what, 0, False))
            return None
        is_json = answer.headers.get("Content-Type", "").startswith("application/json")
        self.answers.append((time.time() - self.started, what, answer.status_code, is_json))
        if answer.status_code == 503 and not answer.headers.get("Retry-After"):
            self.without_retry_after.append(what)
        return answer

    def _run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = self.token
        last_turn = None
        while not self._stop.is_set():
            self._call(session, "GET", "/healthz", "healthz")
            dialogue = self._call(session, "POST", "/api/dialogues/", "dialogue", {"track": "helpfulness"})
            if dialogue is not None and dialogue.status_code == 201:
                turn = self._call(
                    session,
                    "POST",
                    f"/api/dialogues/{dialogue.json()['id']}/turns/",
                    "turn",
                    {"prompt": f"Tell me about the sea, please ({len(self.acknowledged)})."},
                )
                if turn is not None and turn.status_code == 202:
                    last_turn = turn.json()["id"]
                    self.acknowledged.append(last_turn)
            if last_turn is not None:
                self._call(session, "GET", f"/api/turns/{last_turn}/", "poll")
            self._stop.wait(self.every_s)

    def statuses(self, what: str | None = None, since: float = 0, until: float = 1e9) -> Counter:
        return Counter(s for t, w, s, _ in self.answers if (what is None or w == what) and since <= t <= until)


def _settled(stack: Stack, turn_ids: list[int], timeout: float) -> dict[int, str]:
    """Each turn's status once none is `sampling` any more (or the timeout passes)."""
    deadline = time.time() + timeout
    while True:
        rows = dict(stack.sql("SELECT id, status FROM annotation_turn WHERE id = ANY(%s)", turn_ids))
        if all(status != "sampling" for status in rows.values()) or time.time() > deadline:
            return rows
        time.sleep(1)


def _check_recovered(stack: Stack, traffic: Traffic, recovered_at: float) -> None:
    assert traffic.acknowledged, "no turn was acknowledged"
    statuses = _settled(stack, traffic.acknowledged, timeout=60)
    waited = time.time() - recovered_at
    assert set(statuses) == set(traffic.acknowledged), "an acknowledged turn is missing from the database"
    assert Counter(statuses.values()) == Counter({"ready": len(statuses)}), (statuses, waited)
    assert waited < 60, f"the last turn took {waited:.0f} s after recovery"
    samples = dict(
        stack.sql(
            "SELECT turn_id, count(*) FROM annotation_sample WHERE turn_id = ANY(%s) GROUP BY turn_id",
            traffic.acknowledged,
        )
    )
    assert all(samples.get(turn) == 2 for turn in traffic.acknowledged), samples
    assert not [a for a in traffic.answers if a[2] >= 500 and a[2] != 503], "a 5xx other than 503"
    assert all(is_json for _, what, status, is_json in traffic.answers if status >= 400)
    assert not traffic.without_retry_after
    print(
        f"{len(traffic.acknowledged)} turns acknowledged, all ready with two samples {waited:.0f} s after "
        f"recovery; answers {dict(traffic.statuses())}"
    )


def _outage(traffic: Traffic, server) -> tuple[float, float, float]:
    """Traffic for 6 s, `server` down for OUTAGE_S, traffic for 8 s more: (down at, up at, recovered at),
    the first two in seconds since the traffic started."""
    time.sleep(6)
    down_at = time.time() - traffic.started
    server.stop()
    time.sleep(OUTAGE_S)
    server.start()
    recovered_at = time.time()
    time.sleep(8)
    return down_at, recovered_at - traffic.started, recovered_at


def test_a_postgres_restart_mid_traffic_gives_503s_and_loses_nothing(servers, tmp_path):
    pg, broker = servers
    stack = _stack(tmp_path, pg, broker)
    try:
        with Traffic(stack) as traffic:
            down_at, up_at, recovered_at = _outage(traffic, pg)
        during = traffic.statuses("dialogue", since=down_at + 1, until=up_at - 1)
        assert during and set(during) == {503}, during  # every API write during the outage: a JSON 503
        assert traffic.statuses("healthz", since=down_at + 1, until=up_at - 1).keys() == {503}
        assert traffic.statuses("dialogue", since=up_at + 3)[201] > 0  # recovered with no manual step
        _check_recovered(stack, traffic, recovered_at)
    finally:
        stack.stop()


def test_a_redis_restart_mid_traffic_loses_no_turn(servers, tmp_path):
    pg, broker = servers
    stack = _stack(tmp_path, pg, broker)
    try:
        with Traffic(stack) as traffic:
            down_at, up_at, recovered_at = _outage(
                traffic, broker
            )  # no persistence: every queued and unacknowledged message is gone
        # the API keeps taking turns while the broker is down; only the health check says so
        assert traffic.statuses("turn", since=down_at + 1, until=up_at - 1)[202] > 0
        assert traffic.statuses("healthz", since=down_at + 1, until=up_at - 1).keys() == {503}
        _check_recovered(stack, traffic, recovered_at)
    finally:
        stack.stop()


def test_repeated_worker_kills_lose_no_turn(servers, tmp_path):
    pg, broker = servers
    # a short hard time limit, so a killed worker's message returns (visibility timeout) and its turn is
    # swept (SAMPLING_REQUEUE_AFTER_S) within the test's minutes
    stack = _stack(
        tmp_path, pg, broker, SAMPLING_SOFT_TIME_LIMIT_S="15", SAMPLING_TIME_LIMIT_S="20", SAMPLING_REQUEUE_AFTER_S="25"
    )
    kills = 0
    try:
        with Traffic(stack, every_s=0.4) as traffic:
            for round_ in range(5):
                time.sleep(4)
                worker = stack.workers[-1]
                os.killpg(worker.pid, signal.SIGKILL)  # the worker and its embedded beat, mid-whatever
                worker.wait(10)
                kills += 1
                stack.worker_start(f"w{round_ + 2}")
            time.sleep(4)
        recovered_at = time.time()
        assert kills == 5
        statuses = _settled(stack, traffic.acknowledged, timeout=120)
        assert Counter(statuses.values()) == Counter({"ready": len(traffic.acknowledged)}), statuses
        samples = dict(
            stack.sql(
                "SELECT turn_id, count(*) FROM annotation_sample WHERE turn_id = ANY(%s) GROUP BY turn_id",
                traffic.acknowledged,
            )
        )
        assert all(samples.get(turn) == 2 for turn in traffic.acknowledged), samples
        assert not [a for a in traffic.answers if a[2] >= 500], "a 5xx while workers were killed"
        print(
            f"{kills} kills, {len(traffic.acknowledged)} turns, all ready {time.time() - recovered_at:.0f} s "
            "after the last kill"
        )
    finally:
        stack.stop()
