"""Drive the real REST API with simulated annotators, one thread each, over HTTP.

Each annotator, for each of its comparisons: asks whether an overlap item is due
(GET /api/overlap/due/) and, if so, leases one (POST /api/overlap/next/); otherwise (or on 204)
writes its next prompt in its current dialogue (a dialogue runs for `turns_per_dialogue` turns),
waits for the two samples, judges them with the oracle through its profile, and submits the
comparison. Only HTTP: nothing here touches the database.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

from annotation.simulation.annotator import AnnotatorProfile, annotator_decide
from annotation.simulation.oracle import ORACLE_VERSION, oracle_judge

PROMPTS_FILE = Path(__file__).with_name("prompts.txt")


def prompts_load(path: str | Path | None = None) -> list[str]:
    lines = Path(path or PROMPTS_FILE).read_text(encoding="utf-8").splitlines()
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise ValueError(f"no prompts in {path or PROMPTS_FILE}")
    return prompts


@dataclass
class SimulationConfig:
    url: str
    track: str
    comparisons: int  # per annotator
    prompts: list[str]
    seed: int = 0
    turns_per_dialogue: int = 3
    turn_timeout_s: float = 300.0
    poll_s: float = 0.2
    max_retries: int = 2  # of a failed sampling


@dataclass
class AnnotatorResult:
    username: str
    comparisons: int = 0
    overlap: int = 0
    own: int = 0
    followed_oracle: int = 0
    chose_a: int = 0
    failed_turns: int = 0
    errors: list[str] = field(default_factory=list)


class ApiError(RuntimeError):
    pass


class _Client:
    def __init__(self, url: str, username: str, password: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        answer = self.session.post(
            f"{self.url}/api/auth/token/", json={"username": username, "password": password}, timeout=30
        )
        if answer.status_code != 200:
            raise ApiError(f"{username} cannot log in: {answer.status_code} {answer.text[:200]}")
        self.session.headers["Authorization"] = f"Token {answer.json()['token']}"

    def call(self, method: str, path: str, *, expect: tuple[int, ...], **kwargs) -> requests.Response:
        answer = self.session.request(method, self.url + path, timeout=60, **kwargs)
        if answer.status_code not in expect:
            raise ApiError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer


class SimulatedAnnotator:
    def __init__(
        self,
        index: int,
        username: str,
        password: str,
        profile: AnnotatorProfile,
        config: SimulationConfig,
        tick: Callable[[], None],
    ):
        self.index, self.username, self.password = index, username, password
        self.profile, self.config, self.tick = profile, config, tick
        self.rng = random.Random(f"{config.seed}:{index}")
        self.result = AnnotatorResult(username=username)
        self.dialogue_id: int | None = None
        self.dialogue_turns = 0
        self.prompt_index = index * 7

    # --- one comparison ---------------------------------------------------------------------
    def _wait_ready(self, client: _Client, turn_id: int) -> dict:
        deadline = time.monotonic() + self.config.turn_timeout_s
        retries = 0
        while time.monotonic() < deadline:
            turn = client.call("GET", f"/api/turns/{turn_id}/", expect=(200,)).json()
            if turn["status"] == "ready":
                return turn
            if turn["status"] == "failed":
                self.result.failed_turns += 1
                if retries >= self.config.max_retries:
                    raise ApiError(f"turn {turn_id} failed: {turn.get('error')}")
                retries += 1
                client.call("POST", f"/api/turns/{turn_id}/retry/", expect=(202,))
            time.sleep(self.config.poll_s)
        raise ApiError(f"turn {turn_id} was not ready after {self.config.turn_timeout_s}s")

    def _own_turn(self, client: _Client) -> dict:
        prompt = self.config.prompts[self.prompt_index % len(self.config.prompts)]
        self.prompt_index += 1
        for _ in range(2):
            if self.dialogue_id is None or self.dialogue_turns >= self.config.turns_per_dialogue:
                answer = client.call("POST", "/api/dialogues/", expect=(201,), json={"track": self.config.track})
                self.dialogue_id, self.dialogue_turns = answer.json()["id"], 0
            answer = client.call(
                "POST", f"/api/dialogues/{self.dialogue_id}/turns/", expect=(202, 409), json={"prompt": prompt}
            )
            if answer.status_code == 202:
                self.dialogue_turns += 1
                return self._wait_ready(client, answer.json()["id"])
            self.dialogue_id = None  # the dialogue cannot go on (batch closed, or a turn left open): start anew
        raise ApiError(f"cannot add a turn: {answer.text[:200]}")

    def _overlap_turn(self, client: _Client) -> dict | None:
        due = client.call("GET", "/api/overlap/due/", expect=(200,), params={"track": self.config.track}).json()
        if not due["due"]:
            return None
        answer = client.call("POST", "/api/overlap/next/", expect=(201, 204), json={"track": self.config.track})
        return answer.json() if answer.status_code == 201 else None

    def _answer(self, client: _Client, turn: dict, *, overlap: bool) -> None:
        texts = {r["label"]: r["text"] for r in turn["responses"]}
        verdict = oracle_judge(texts["a"], texts["b"], track=self.config.track, prompt=turn["prompt"])
        decision = annotator_decide(self.profile, verdict, self.rng)
        if self.profile.think_s:
            time.sleep(self.profile.think_s * self.rng.uniform(0.5, 1.5))
        body = {"chosen": decision.chosen, "strength": decision.strength, "time_spent_ms": decision.time_spent_ms}
        if self.config.track == "safety":
            body.update(a_safe=decision.a_safe, b_safe=decision.b_safe)
        client.call("POST", f"/api/turns/{turn['id']}/comparison/", expect=(201,), json=body)
        result = self.result
        result.comparisons += 1
        result.overlap += overlap
        result.own += not overlap
        result.followed_oracle += decision.followed_oracle
        result.chose_a += decision.chosen == "a"

    def run(self) -> AnnotatorResult:
        try:
            client = _Client(self.config.url, self.username, self.password)
            while self.result.comparisons < self.config.comparisons:
                turn = self._overlap_turn(client)
                if turn is not None:
                    self._answer(client, turn, overlap=True)
                else:
                    self._answer(client, self._own_turn(client), overlap=False)
                self.tick()
        except (ApiError, requests.RequestException) as error:
            self.result.errors.append(str(error))
        return self.result


def simulation_run(
    *,
    config: SimulationConfig,
    accounts: list[tuple[str, str]],
    profiles: list[AnnotatorProfile],
    tick: Callable[[], None] = lambda: None,
) -> dict:
    """Run every annotator in its own thread; the summary of the run."""
    annotators = [
        SimulatedAnnotator(i, username, password, profile, config, tick)
        for i, ((username, password), profile) in enumerate(zip(accounts, profiles))
    ]
    threads = [threading.Thread(target=a.run, name=f"sim-{a.username}", daemon=True) for a in annotators]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    results = [a.result for a in annotators]
    total = sum(r.comparisons for r in results)
    return {
        "oracle": ORACLE_VERSION,
        "track": config.track,
        "users": len(results),
        "comparisons": total,
        "overlap_comparisons": sum(r.overlap for r in results),
        "seconds": round(seconds, 3),
        "comparisons_per_second": round(total / seconds, 3) if seconds else None,
        "errors": sum(len(r.errors) for r in results),
        "annotators": [
            {
                "username": r.username,
                "comparisons": r.comparisons,
                "overlap": r.overlap,
                "own": r.own,
                "followed_oracle": r.followed_oracle,
                "chose_a": r.chose_a,
                "failed_turns": r.failed_turns,
                "errors": r.errors,
            }
            for r in results
        ],
    }
