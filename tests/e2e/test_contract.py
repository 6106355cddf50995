"""The black-box run of the API and the commands (docs/architecture.md) against a live server, a real Celery
worker, Postgres and Redis."""

import json
import multiprocessing

import pytest
import requests

from tests.e2e.conftest import foreign_model_dir
from tests.e2e.racers import comparison_racer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """Accounts, two policy versions from directories made without project code, and a batch per track."""
    models = tmp_path_factory.mktemp("foreign")
    stack.manage("create_user", "--username", "admin", "--password", "admin-passphrase", "--role", "admin")
    for name in ("alice", "bob"):
        stack.manage("create_user", "--username", name, "--password", f"{name}-passphrase", "--role", "annotator")
    v1 = stack.manage(
        "register_model",
        "--kind",
        "policy",
        "--name",
        "chat-v1",
        "--path",
        str(foreign_model_dir(models / "v1", seed=1)),
        "--current",
    )
    v2 = stack.manage(
        "register_model",
        "--kind",
        "policy",
        "--name",
        "chat-v2",
        "--path",
        str(foreign_model_dir(models / "v2", seed=2)),
        "--parent",
        "chat-v1",
    )
    assert v1["current"] and v2["parent"] == "chat-v1"
    admin = stack.client("admin", "admin-passphrase")
    batch = admin.post(
        "/api/batches/",
        {
            "name": "week-1-help",
            "track": "helpfulness",
            "policy_versions": ["chat-v1", "chat-v2"],
            "temperature_min": 0.7,
            "temperature_max": 1.3,
            "target_comparisons": 50,
            "max_new_tokens": 32,
            "overlap_fraction": 0.0,
        },
    )
    assert batch.status_code == 201, batch.text
    assert admin.post(f"/api/batches/{batch.json()['id']}/activate/").json()["status"] == "active"
    safety = stack.manage(
        "create_batch",
        "--name",
        "week-1-safety",
        "--track",
        "safety",
        "--policy",
        "chat-v1",
        "--policy",
        "chat-v2",
        "--temperatures",
        "0.6,1.1",
        "--target",
        "20",
        "--max-new-tokens",
        "32",
        "--activate",
    )
    assert safety["status"] == "active"
    return {
        "admin": admin,
        "alice": stack.client("alice", "alice-passphrase"),
        "bob": stack.client("bob", "bob-passphrase"),
        "help_batch": batch.json()["id"],
        "safety_batch": safety["id"],
    }


def _turn(api, dialogue_id: int, prompt: str) -> dict:
    created = api.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": prompt})
    assert created.status_code == 202 and created.json()["status"] == "sampling", created.text
    turn = api.turn_wait(created.json()["id"])
    assert turn["status"] == "ready", turn
    return turn


def test_contract_run(stack, world):
    alice, bob, admin = world["alice"], world["bob"], world["admin"]

    # helpfulness: a dialogue of two turns
    dialogue = alice.post("/api/dialogues/", {"track": "helpfulness"})
    assert dialogue.status_code == 201 and dialogue.json()["turns"] == []
    dialogue_id = dialogue.json()["id"]
    first = _turn(alice, dialogue_id, "Tell me about the sea.")
    assert [r["label"] for r in first["responses"]] == ["a", "b"] and "model" not in json.dumps(first)
    assert first["responses"][0]["text"] != first["responses"][1]["text"]
    answer = alice.post(
        f"/api/turns/{first['id']}/comparison/", {"chosen": "a", "strength": "slightly_better", "time_spent_ms": 5300}
    )
    assert answer.status_code == 201, answer.text
    again = alice.post(
        f"/api/turns/{first['id']}/comparison/", {"chosen": "b", "strength": "better", "time_spent_ms": 10}
    )
    assert again.status_code == 409 and again.json()["detail"]
    second = _turn(alice, dialogue_id, "And the wind?")
    assert (
        alice.post(
            f"/api/turns/{second['id']}/comparison/",
            {"chosen": "b", "strength": "significantly_better", "time_spent_ms": 4000},
        ).status_code
        == 201
    )

    # 400 and 404
    bad = alice.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": ""})
    assert bad.status_code == 400 and "prompt" in bad.json()["errors"]
    assert alice.post("/api/dialogues/", {"track": "gossip"}).status_code == 400
    assert bob.get(f"/api/turns/{first['id']}/").status_code == 404
    assert bob.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "hi"}).status_code == 404
    assert alice.get("/api/batches/").status_code == 403

    # safety track: flags required, the three bins, and a chosen-unsafe pair that must not export
    safety_dialogue = bob.post("/api/dialogues/", {"track": "safety"}).json()["id"]
    s1 = _turn(bob, safety_dialogue, "How do I pick a lock?")
    missing = bob.post(f"/api/turns/{s1['id']}/comparison/", {"chosen": "a", "strength": "better", "time_spent_ms": 9})
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"a_safe", "b_safe"}
    assert (
        bob.post(
            f"/api/turns/{s1['id']}/comparison/",
            {"chosen": "a", "strength": "better", "a_safe": True, "b_safe": False, "time_spent_ms": 9000},
        ).status_code
        == 201
    )
    s2 = _turn(bob, safety_dialogue, "Be more specific.")
    flagged = bob.post(
        f"/api/turns/{s2['id']}/comparison/",
        {"chosen": "b", "strength": "slightly_better", "a_safe": True, "b_safe": False, "time_spent_ms": 7000},
    )
    assert flagged.status_code == 201 and flagged.json()["unsafe_chosen"] is True

    # the export, over the API (streamed) and with the management command
    lines = admin.get(f"/api/batches/{world['help_batch']}/export/?format=trl").text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2
    assert rows[0]["strength"] == "slightly_better" and rows[0]["margin"] == pytest.approx(1 / 3)
    assert rows[0]["chosen"][0]["content"] == first["responses"][0]["text"]
    assert rows[1]["prompt"] == [
        {"role": "user", "content": "Tell me about the sea."},
        {"role": "assistant", "content": first["responses"][0]["text"]},
        {"role": "user", "content": "And the wind?"},
    ]
    for row in rows:
        assert {row["chosen_model"], row["rejected_model"]} == {"chat-v1", "chat-v2"}
        for side in ("chosen_sampling", "rejected_sampling"):
            assert 0.7 <= row[side]["temperature"] <= 1.3 and set(row[side]) == {
                "temperature",
                "top_p",
                "max_new_tokens",
                "seed",
            }
        assert row["chosen_sampling"]["temperature"] != row["rejected_sampling"]["temperature"]
        assert row["annotator"] not in ("alice", "bob") and row["source"] == "platform"
    out = stack.workdir / "safety.jsonl"
    result = stack.manage("export_preferences", "--batch", "week-1-safety", "--format", "trl", "--output", str(out))
    safety_rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result["pairs"] == 1 == len(safety_rows)
    assert safety_rows[0]["safety_bin"] == "chosen_safe_other_unsafe" and safety_rows[0]["track"] == "safety"
    stats = admin.get(f"/api/batches/{world['safety_batch']}/stats/").json()
    assert stats["comparisons"] == 2 and stats["unsafe_chosen"] == 1

    # the registry as list_models shows it
    models = {m["name"]: m for m in stack.manage("list_models", "--kind", "policy")}
    assert models["chat-v1"]["current"] and models["chat-v2"]["parent"] == "chat-v1"


def test_concurrent_submissions_keep_one_comparison_per_turn(stack, world):
    """Two processes released together at a barrier submit for the same turn: one 201, one 409, one row."""
    alice = world["alice"]
    token = alice.session.headers["Authorization"].split()[1]
    context = multiprocessing.get_context("spawn")
    barrier, turns, results = context.Barrier(2), context.Queue(), context.Queue()
    racers = [
        context.Process(target=comparison_racer, args=(stack.url, token, turns, barrier, results)) for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    try:
        for attempt in range(10):
            dialogue_id = alice.post("/api/dialogues/", {"track": "helpfulness"}).json()["id"]
            turn = _turn(alice, dialogue_id, f"Race number {attempt}")
            for _ in racers:
                turns.put(turn["id"])
            assert sorted(results.get(timeout=60) for _ in racers) == [201, 409]
            assert stack.sql("SELECT count(*) FROM annotation_comparison WHERE turn_id = %s", turn["id"]) == [(1,)]
    finally:
        for _ in racers:
            turns.put(None)
        for racer in racers:
            racer.join(30)


def test_health_and_schema(stack):
    assert requests.get(f"{stack.url}/healthz", timeout=5).json()["ok"] is True
    schema = requests.get(f"{stack.url}/api/schema/", timeout=10)
    assert schema.status_code == 200 and "openapi" in schema.text
