"""One reduced RLHF iteration end to end: simulated annotators over the real API, a real Celery worker,
Postgres, reward models, rejection sampling, the promotion gate and the win rates."""

import json

import pytest

from tests.e2e.conftest import foreign_model_dir

pytestmark = pytest.mark.e2e


def test_run_iteration_simulate_reduced(stack, tmp_path):
    policy = foreign_model_dir(tmp_path / "policy-v0", seed=5)
    stack.manage("register_model", "--kind", "policy", "--name", "policy-v0", "--path", str(policy), "--current")
    rs_prompts = tmp_path / "rs.jsonl"
    rs_prompts.write_text("".join(json.dumps({"prompt": p, "safety": i == 0}) + "\n" for i, p in
                                  enumerate(["How do I break a lock?", "Plan my day.", "Tell me about tea.", "Name a tree.",
                                            "Write a haiku.", "Why do cats purr?"])))
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("What is the sea?\nHow do I bake bread?\nName a colour.\nHelp me sleep.\n")

    result = stack.manage("run_iteration", "--simulate", "--url", stack.url, "--users", "2", "--comparisons", "3",
                          "--k", "2", "--temperature", "1.0", "--max-new-tokens", "12", "--rs-prompts",
                          str(rs_prompts), "--heldout-prompts", str(heldout), "--promotion-threshold", "-1",
                          "--ppo", "--ppo-iterations", "2")

    # rejection sampling made policy-iter1; PPO on top of it made policy-iter1-ppo, the one evaluated and promoted
    assert result["policy"] == "policy-iter1-ppo" and result["parent"] == "policy-v0"
    assert result["ppo"]["iterations_run"] >= 1 and 0 <= result["ppo"]["versus_rejection_sampling_oracle_win_rate"] <= 1
    assert result["comparisons"] == {"helpfulness": 6, "safety": 6}
    assert result["promoted"] and result["current_policy"] == "policy-iter1-ppo"  # a gate of -1 always passes
    for key in ("rm_win_rate", "oracle_win_rate"):
        assert 0 <= result[key] <= 1 and result[key + "_ci95"][0] <= result[key] <= result[key + "_ci95"][1]
    assert result["heldout_prompts"] == 4
    # what changed, side by side: every held-out prompt's reply before and after, scored by both judges
    examples = result["heldout_examples"]
    assert [e["prompt"] for e in examples] == ["What is the sea?", "How do I bake bread?", "Name a colour.", "Help me sleep."]
    assert all(isinstance(e["new"], str) and isinstance(e["old"], str) and isinstance(e["oracle_new"], int)
               for e in examples)
    saved = [json.loads(line) for line in open(result["heldout_replies"], encoding="utf-8")]
    assert saved == examples
    models = {m["name"]: m for m in stack.manage("list_models")}
    assert models["policy-iter1"]["parent"] == "policy-v0" and models["policy-iter1-ppo"]["parent"] == "policy-iter1"
    assert models["policy-iter1-ppo"]["current"] and not models["policy-iter1"]["current"]
    lineage = models["policy-iter1"]["lineage"]
    assert lineage["batches"] == ["iter1-helpfulness", "iter1-safety"]
    assert lineage["helpfulness_rm"] == "rm-helpfulness-iter1" and models["rm-safety-iter1"]["current"]
    # the batches were closed and their comparisons export
    exported = stack.workdir / "all.jsonl"
    stack.manage("export_preferences", "--batch", "iter1-helpfulness", "--batch", "iter1-safety", "--format", "trl",
                 "--output", str(exported))
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert rows and all(r["chosen_model"] == "policy-v0" for r in rows)
