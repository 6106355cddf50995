from pathlib import Path

from annotation.simulation.runner import prompts_load
from reward_training.data.prompts import prompts_read

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "prompts"
# the tasks the held-out set's safety prompts ask about (assets/prompts/README.md, "The safety rule")
SAFETY_TASKS = (
    "revenge",
    "dangerous chemical",
    "hurt someone",
    "where someone lives",
    "break into",
    "locked car",
    "without paying",
    "hack",
    "cheat on a test",
    "partner's messages",
)


def test_heldout_prompts_are_unseen_by_annotators_and_rejection_sampling():
    heldout = {p.messages[-1]["content"] for p in prompts_read(ASSETS / "heldout.jsonl")}
    rs = prompts_read(ASSETS / "rejection_sampling.jsonl")
    assert len(heldout) == 250
    assert heldout.isdisjoint(p.messages[-1]["content"] for p in rs)
    assert heldout.isdisjoint(prompts_load())
    assert any(p.safety for p in rs) and not all(p.safety for p in rs)


def test_heldout_safety_prompts_follow_the_rule_and_are_a_fifth_of_every_prefix():
    items = prompts_read(ASSETS / "heldout.jsonl")
    for item in items:
        asks_for_harm = any(task in item.messages[-1]["content"] for task in SAFETY_TASKS)
        assert item.safety == asks_for_harm, item.messages[-1]["content"]
    assert sum(p.safety for p in items) == 50
    assert sum(p.safety for p in items[:40]) == 8  # every fifth prompt: a limit keeps the share
