"""A bounded soak of the annotation API: N simulated annotators for M minutes against a live stack
(gunicorn + a real Celery worker + Postgres + Redis, all on loopback), driven by locust used as a library.

    .venv/bin/python bench/soak.py [--annotators 100] [--minutes 5] [--out bench/out/soak.json]
    .venv/bin/python bench/soak.py --smoke          # 10 annotators for half a minute: does it work?

Each annotator logs in once (POST /api/auth/token/), then repeats what the annotator's page does: opens a
dialogue (a new one every --turns-per-dialogue turns), posts a turn, polls GET /api/turns/{id}/ every 300 ms
while it samples (retrying a failed turn, as the page's button does), reads the two replies for a short
think time, submits the comparison, and waits a moment before writing its next prompt. Half of the
annotators work in the helpfulness track and half in the safety track (whose comparison carries the
a_safe/b_safe flags). The choice comes from the frozen oracle (annotation/simulation/oracle.py).

The policy is the 2.4M-parameter demo model (assets/demo-chat) with a small --max-new-tokens, so that
sampling is quick and the figures measure the API rather than the model. Latencies are measured by the
client (locust's clock, from sending the request to reading the whole answer), on the same machine as
the stack. When the time is up no annotator starts another cycle; each finishes the one it is in (at
most --grace-s), so every submission it made has an answer to check.

Writes --out (JSON) and prints a table: requests, p50/p95/p99 and status codes per endpoint (grouped by
route template), the 5xx count, and the integrity check against the stack's database: comparisons in the
database against acknowledged (201) submissions, and every acknowledged turn with exactly two samples.
"""

# locust patches the standard library for gevent when imported; it must come before requests and psycopg2.
import locust  # noqa: F401  isort: skip
from locust import FastHttpUser, between, task  # isort: skip
from locust.exception import StopUser  # isort: skip

import argparse
import itertools
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import gevent
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotation.simulation.annotator import AnnotatorProfile, annotator_decide  # noqa: E402
from annotation.simulation.oracle import oracle_judge  # noqa: E402
from annotation.simulation.runner import prompts_load  # noqa: E402
from bench.soak_record import ROUTES, Record, endpoints_report, quantiles, table_print  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402

DEMO_MODEL = ROOT / "assets" / "demo-chat"
POLL_S = 0.3  # the annotator page's polling interval while a turn samples (annotation/static/annotation/dialogue.js)
TRACKS = ("helpfulness", "safety")
SOAK_ENV = {
    # Every annotator logs in from 127.0.0.1 within seconds: lift the login throttle and lockout for this
    # stack only (the settings are ignored where they do not exist).
    "LOGIN_RATE": "100000/min",
    "LOGIN_FAILURE_LIMIT": "1000000",
}


class SoakAnnotator(FastHttpUser):
    """One annotator at the page: the settings below are set by main() before the run starts."""

    wait_time = between(0.5, 1.5)  # writing the next prompt
    accounts: list[tuple[str, str]] = []
    prompts: list[str] = []
    record: Record
    turns_per_dialogue = 3
    think_s = 2.0
    turn_timeout_s = 120.0
    _index = itertools.count()

    def on_start(self):
        self.index = next(self._index)
        self.rng = random.Random(self.index)
        self.track = TRACKS[self.index % 2]
        self.profile = AnnotatorProfile(noise=0.1)
        self.dialogue_id, self.dialogue_turns = None, 0
        username, password = self.accounts[self.index % len(self.accounts)]
        answer = self.client.post(
            "/api/auth/token/", json={"username": username, "password": password}, name=ROUTES["login"]
        )
        if answer.status_code != 200:
            self.record.user_errors[f"login refused: {answer.status_code}"] += 1
            raise StopUser()
        self.client.auth_header = f"Token {answer.json()['token']}"

    @task
    def annotate(self):
        """One cycle: a turn, its samples, the comparison. A stop waits for it to end (gevent.sleep, not wait)."""
        turn_id = self._turn_post()
        if turn_id is None:
            return
        turn = self._turn_wait(turn_id)
        if turn is None:
            self.dialogue_id = None  # the dialogue cannot go on past an open turn: start a new one
            return
        reading_s = self.think_s * self.rng.uniform(0.5, 1.5)
        gevent.sleep(reading_s)
        texts = {r["label"]: r["text"] for r in turn["responses"]}
        verdict = oracle_judge(texts["a"], texts["b"], track=self.track, prompt=turn["prompt"])
        decision = annotator_decide(self.profile, verdict, self.rng)
        body = {"chosen": decision.chosen, "strength": decision.strength, "time_spent_ms": int(reading_s * 1000)}
        if self.track == "safety":
            body.update(a_safe=decision.a_safe, b_safe=decision.b_safe)
        answer = self.client.post(f"/api/turns/{turn_id}/comparison/", json=body, name=ROUTES["comparison"])
        if answer.status_code == 201:
            self.record.acknowledged.add(turn_id)
        elif answer.status_code == 0:
            self.record.unanswered.add(turn_id)

    def _turn_post(self) -> int | None:
        if self.dialogue_id is None or self.dialogue_turns >= self.turns_per_dialogue:
            answer = self.client.post("/api/dialogues/", json={"track": self.track}, name=ROUTES["dialogue"])
            if answer.status_code != 201:
                return None
            self.dialogue_id, self.dialogue_turns = answer.json()["id"], 0
        prompt = self.prompts[(self.index * 7 + self.dialogue_turns + self.rng.randrange(1000)) % len(self.prompts)]
        answer = self.client.post(
            f"/api/dialogues/{self.dialogue_id}/turns/", json={"prompt": prompt}, name=ROUTES["turn"]
        )
        if answer.status_code != 202:
            self.dialogue_id = None
            return None
        self.dialogue_turns += 1
        self.posted_at = time.perf_counter()
        return answer.json()["id"]

    def _turn_wait(self, turn_id: int) -> dict | None:
        """Poll as the page does; retry a failed turn twice, as an annotator pressing the button would."""
        retries = 0
        deadline = time.monotonic() + self.turn_timeout_s
        while time.monotonic() < deadline:
            gevent.sleep(POLL_S)
            answer = self.client.get(f"/api/turns/{turn_id}/", name=ROUTES["poll"])
            if answer.status_code != 200:
                continue
            turn = answer.json()
            if turn["status"] == "ready":
                self.record.ready_s.append(time.perf_counter() - self.posted_at)
                return turn
            if turn["status"] == "failed":
                self.record.failed_turns += 1
                if retries == 2:
                    return None
                retries += 1
                self.client.post(f"/api/turns/{turn_id}/retry/", name=ROUTES["retry"])
        self.record.abandoned_turns += 1
        return None


# --- the stack ---------------------------------------------------------------------------------
def accounts_create(stack: Stack, count: int) -> list[tuple[str, str]]:
    """Annotator accounts with strong random passwords, made in one manage.py process (PBKDF2 each)."""
    accounts = [(f"soak-{i + 1}", secrets.token_urlsafe(12)) for i in range(count)]  # 16 characters
    path = stack.workdir / "accounts.json"
    path.write_text(json.dumps(accounts))
    stack.manage(
        "shell",
        "-c",
        (
            "import json\n"
            "from annotation.models import Role\n"
            "from annotation.services.users import user_create\n"
            f"for username, password in json.load(open({str(path)!r})):\n"
            "    user_create(username=username, password=password, role=Role.ANNOTATOR)\n"
        ),
        json_result=False,
        timeout=600,
    )
    return accounts


def stack_prepare(stack: Stack, *, max_new_tokens: int) -> None:
    stack.manage("register_model", "--kind", "policy", "--name", "demo-chat", "--path", str(DEMO_MODEL), "--current")
    for track in TRACKS:
        stack.manage(
            "create_batch",
            "--name",
            f"soak-{track}",
            "--track",
            track,
            "--policy",
            "demo-chat",
            "--temperatures",
            "0.7,1.2",
            "--target",
            "1000000",
            "--max-new-tokens",
            str(max_new_tokens),
            "--activate",
        )


def integrity_check(stack: Stack, record: Record) -> dict:
    """What the database holds against what the annotators were told (201), read before the stack goes."""
    in_db = {turn for (turn,) in stack.sql("SELECT turn_id FROM annotation_comparison")}
    acknowledged = sorted(record.acknowledged)
    samples = dict(
        stack.sql(
            "SELECT turn_id, count(*) FROM annotation_sample WHERE turn_id = ANY(%s) GROUP BY turn_id", acknowledged
        )
    )
    missing = record.acknowledged - in_db
    unacknowledged = in_db - record.acknowledged
    without_two = [t for t in acknowledged if samples.get(t, 0) != 2]
    return {
        "acknowledged_201": len(record.acknowledged),
        "comparisons_in_db": len(in_db),
        "acknowledged_missing_from_db": len(missing),
        # a submission whose answer never arrived (connection error) may be stored; any other extra row is a fault
        "in_db_not_acknowledged": len(unacknowledged),
        "in_db_not_acknowledged_unexplained": len(unacknowledged - record.unanswered),
        "acknowledged_turns_without_two_samples": len(without_two),
        "turns_by_status": dict(stack.sql("SELECT status, count(*) FROM annotation_turn GROUP BY status")),
        "ok": not missing and not (unacknowledged - record.unanswered) and not without_two,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=100, help="simulated annotators (one locust user each)")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long annotators start new cycles")
    parser.add_argument("--smoke", action="store_true", help="a quick check: 10 annotators for 0.5 minutes")
    parser.add_argument("--spawn-rate", type=float, default=20.0, help="annotators arriving per second")
    parser.add_argument("--think-s", type=float, default=2.0, help="mean seconds spent reading two replies")
    parser.add_argument("--turns-per-dialogue", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16, help="per reply, for the demo model")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (solo pool each)")
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="the sampling workers' CPU priority (nice), 0 as the web server"
    )
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn processes (compose: 4)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn process (compose: 4)")
    parser.add_argument("--turn-timeout", type=float, default=120.0, help="seconds an annotator waits for a turn")
    parser.add_argument(
        "--grace-s",
        type=float,
        default=150.0,
        help="at the end, how long annotators may take to finish the cycle they are in",
    )
    parser.add_argument("--redis-db", type=int, default=7, help="a Redis database no other stack uses")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "soak.json"))
    args = parser.parse_args()
    if args.smoke:
        args.annotators, args.minutes = 10, 0.5
    if args.annotators < 1 or args.minutes <= 0 or args.workers < 1:
        parser.error("--annotators and --workers must be at least 1, --minutes above 0")

    record = Record()
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(
            Path(workdir),
            redis_db=args.redis_db,
            worker_env=SOAK_ENV,
            web_workers=args.web_workers,
            web_threads=args.web_threads,
        )
        try:
            stack.start()
            for n in range(args.workers):
                stack.worker_start(f"w{n + 1}", nice=args.worker_nice)
            stack_prepare(stack, max_new_tokens=args.max_new_tokens)
            SoakAnnotator.accounts = accounts_create(stack, args.annotators)
            SoakAnnotator.prompts = prompts_load()
            SoakAnnotator.record = record
            SoakAnnotator.think_s, SoakAnnotator.turn_timeout_s = args.think_s, args.turn_timeout
            SoakAnnotator.turns_per_dialogue = args.turns_per_dialogue

            environment = Environment(user_classes=[SoakAnnotator], host=stack.url, stop_timeout=args.grace_s)
            environment.events.request.add_listener(record.on_request)
            environment.events.user_error.add_listener(record.on_user_error)
            runner = environment.create_local_runner()
            load_before = os.getloadavg()
            started_at = datetime.now(timezone.utc)
            started = time.perf_counter()
            runner.start(args.annotators, spawn_rate=args.spawn_rate)
            gevent.sleep(args.minutes * 60)
            runner.quit()  # each annotator finishes its cycle (up to --grace-s), then stops
            seconds = time.perf_counter() - started
            load_after = os.getloadavg()
            integrity = integrity_check(stack, record)
        finally:
            stack.stop()

    statuses = Counter()
    for counter in record.statuses.values():
        statuses.update(counter)
    requests_total = sum(statuses.values())
    report = {
        "started_utc": started_at.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "annotators": args.annotators,
        "minutes": args.minutes,
        "seconds": round(seconds, 1),
        "grace_seconds": args.grace_s,
        "spawn_rate": args.spawn_rate,
        "think_s": args.think_s,
        "model": "assets/demo-chat (2.4M parameters; sampling is quick, so the API is what is measured)",
        "max_new_tokens": args.max_new_tokens,
        "worker_processes": args.workers,
        "worker_nice": args.worker_nice,
        "gunicorn": {"workers": args.web_workers, "threads": args.web_threads},
        "latency_clock": "client side (locust), loopback, from sending the request to reading the whole answer",
        "endpoints": endpoints_report(record),
        "totals": {
            "requests": requests_total,
            "requests_per_second": round(requests_total / seconds, 1),
            "status": {str(code): n for code, n in sorted(statuses.items())},
            "5xx": sum(n for code, n in statuses.items() if code >= 500),
            "no_answer": statuses.get(0, 0),
        },
        "turn_ready_s": quantiles(record.ready_s, 2) if record.ready_s else None,
        "failed_turns": record.failed_turns,
        "abandoned_turns": record.abandoned_turns,
        "annotator_errors": dict(record.user_errors),
        "integrity": integrity,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    table_print(report)
    print(f"full report: {out}")
    if not integrity["ok"] or report["totals"]["5xx"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
