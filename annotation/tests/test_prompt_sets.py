from pathlib import Path

from annotation.simulation.runner import prompts_load
from reward_training.data.prompts import prompts_read

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "prompts"


def test_heldout_prompts_are_unseen_by_annotators_and_rejection_sampling():
    heldout = {p.messages[-1]["content"] for p in prompts_read(ASSETS / "heldout.txt")}
    rs = prompts_read(ASSETS / "rejection_sampling.jsonl")
    assert len(heldout) == 200
    assert heldout.isdisjoint(p.messages[-1]["content"] for p in rs)
    assert heldout.isdisjoint(prompts_load())
    assert any(p.safety for p in rs) and not all(p.safety for p in rs)
