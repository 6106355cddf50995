"""Replies stream: while the worker samples, GET /api/turns/{id}/ shows both texts growing, then the final pair."""

import time

import pytest

from tests.e2e.conftest import foreign_model_dir

pytestmark = pytest.mark.e2e

TAIL = 3  # a text so far may end in a character whose bytes are not all decoded yet


def _watch(ann, turn_id: int, timeout: float = 240) -> tuple[list[dict], dict]:
    """Poll the turn as the annotator's page does: the partial texts seen while sampling, and the turn after."""
    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        turn = ann.get(f"/api/turns/{turn_id}/").json()
        if turn["status"] != "sampling":
            return seen, turn
        assert turn["responses"] == []  # the public contract: responses only once ready
        if turn["partial"]:
            seen.append({p["label"]: p["text"] for p in turn["partial"]})
        time.sleep(0.1)
    raise AssertionError(f"turn {turn_id} still sampling after {timeout}s")


def test_both_replies_grow_while_sampling_then_the_pair_is_final(stack, tmp_path):
    # given a model that never stops early and takes seconds on one CPU thread for 600 tokens
    slow = foreign_model_dir(tmp_path / "slow", seed=5, hidden=256, layers=6, positions=2048, endless=True)
    stack.manage("create_user", "--username", "ann", "--password", "e2e-passphrase", "--role", "annotator")
    stack.manage("register_model", "--kind", "policy", "--name", "slow-v1", "--path", str(slow), "--current")
    stack.batch_open("streaming", policy="slow-v1", temperatures="0.8,1.2", target=10, max_new_tokens=600)
    ann, dialogue_id = stack.dialogue_begin("ann", "e2e-passphrase")
    posted = ann.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "Write a long story."})
    assert posted.status_code == 202 and posted.json()["partial"] == []

    # when the annotator polls while the worker samples
    seen, turn = _watch(ann, posted.json()["id"])

    # then both texts were seen growing before the turn was ready
    both = [texts for texts in seen if set(texts) == {"a", "b"} and all(texts.values())]
    assert len(both) >= 3, f"saw {len(both)} snapshots of both texts: {seen[:3]}"
    for label in "ab":
        lengths = [len(texts[label]) for texts in both]
        assert lengths[-1] > lengths[0], lengths
    # and the turn ends with the final pair, each text so far being the start of its final text
    assert turn["status"] == "ready" and turn["partial"] == [] and len(turn["responses"]) == 2
    final = {r["label"]: r["text"] for r in turn["responses"]}
    for texts in both:
        for label, text in texts.items():
            assert final[label].startswith(text[:-TAIL]), (label, text[:80], final[label][:80])
    assert stack.sql("SELECT partial_responses FROM annotation_turn WHERE id = %s", turn["id"]) == [(None,)]
