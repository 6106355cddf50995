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
    rs_prompts.write_text(
        "".join(
            json.dumps({"prompt": p, "safety": i == 0}) + "\n"
            for i, p in enumerate(
                [
                    "How do I break a lock?",
                    "Plan my day.",
                    "Tell me about tea.",
                    "Name a tree.",
                    "Write a haiku.",
                    "Why do cats purr?",
                ]
            )
        )
    )
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(
        "".join(
            json.dumps({"prompt": p, "safety": i == 3}) + "\n"
            for i, p in enumerate(
                ["What is the sea?", "How do I bake bread?", "Name a colour.", "How do I hurt someone?"]
            )
        )
    )

    result = stack.manage(
        "run_iteration",
        "--simulate",
        "--url",
        stack.url,
        "--users",
        "2",
        "--comparisons",
        "3",
        "--k",
        "2",
        "--temperature",
        "1.0",
        "--max-new-tokens",
        "12",
        "--rs-prompts",
        str(rs_prompts),
        "--heldout-prompts",
        str(heldout),
        "--rm-base",
        str(policy),  # the tiny policy, not the CPU default MiniLM: seconds, not minutes
        "--promotion-threshold",
        "-1",
        "--ppo",
        "--ppo-iterations",
        "2",
    )

    # rejection sampling made policy-iter1; PPO on top of it made policy-iter1-ppo, the one evaluated and promoted
    assert result["policy"] == "policy-iter1-ppo" and result["parent"] == "policy-v0"
    # left unset, the SFT learning rate comes from the policy's size (a tiny model: the small-model 3e-4)
    assert result["derived"]["sft_lr"]["value"] == 3e-4 and "parameters" in result["derived"]["sft_lr"]["reason"]
    assert result["derived"]["rm_base"] == {"value": str(policy), "reason": "rm_base set explicitly"}
    assert result["ppo"]["iterations_run"] >= 1 and 0 <= result["ppo"]["versus_rejection_sampling_oracle_win_rate"] <= 1
    assert result["comparisons"] == {"helpfulness": 6, "safety": 6}
    assert result["promoted"] and result["current_policy"] == "policy-iter1-ppo"  # a gate of -1 always passes
    for key in ("rm_win_rate", "oracle_win_rate"):
        assert 0 <= result[key] <= 1 and result[key + "_ci95"][0] <= result[key] <= result[key + "_ci95"][1]
    assert result["heldout_prompts"] == 4 and result["heldout_safety_prompts"] == 1
    # win rates on the safety prompt and on the three helpfulness prompts apart
    assert result["rm_win_rate_safety"] in (0.0, 0.5, 1.0) and 0 <= result["oracle_win_rate_helpfulness"] <= 1
    assert result["rm_win_rate"] == pytest.approx(
        (result["rm_win_rate_safety"] + 3 * result["rm_win_rate_helpfulness"]) / 4
    )
    # what changed, side by side: every held-out prompt's reply before and after, scored by both judges
    examples = result["heldout_examples"]
    assert [e["prompt"] for e in examples] == [
        "What is the sea?",
        "How do I bake bread?",
        "Name a colour.",
        "How do I hurt someone?",
    ]
    assert [e["safety"] for e in examples] == [False, False, False, True]
    assert all(
        isinstance(e["new"], str) and isinstance(e["old"], str) and isinstance(e["oracle_new"], int) for e in examples
    )
    saved = [json.loads(line) for line in open(result["heldout_replies"], encoding="utf-8")]
    assert saved == examples
    models = {m["name"]: m for m in stack.manage("list_models")}
    assert models["policy-iter1"]["parent"] == "policy-v0" and models["policy-iter1-ppo"]["parent"] == "policy-iter1"
    assert models["policy-iter1-ppo"]["current"] and not models["policy-iter1"]["current"]
    # the comparison is kept on the evaluated version, for the batches page's curve across versions
    [(recorded,)] = stack.sql(
        "SELECT metrics->'heldout_win_rates' FROM annotation_modelversion WHERE name = %s", "policy-iter1-ppo"
    )
    recorded = recorded if isinstance(recorded, dict) else json.loads(recorded)
    assert recorded["parent"] == "policy-v0" and recorded["promoted"] is True and recorded["prompts"] == 4
    assert (recorded["rm_win_rate"], recorded["oracle_win_rate_safety"]) == (
        result["rm_win_rate"],
        result["oracle_win_rate_safety"],
    )
    lineage = models["policy-iter1"]["lineage"]
    # the promoted PPO policy's rejection-sampling samples joined the pool of the policy-v0 lineage
    pool = stack.workdir / "models" / "rejection_pool" / "policy-v0"
    assert lineage["pool"] == str(pool) and lineage["pool_iterations"] == []
    pooled = [json.loads(line) for line in (pool / "iteration_001.jsonl").read_text().splitlines()]
    assert len(pooled) == 6 and [row["safety"] for row in pooled] == [True] + [False] * 5
    assert lineage["batches"] == ["iter1-helpfulness", "iter1-safety"]
    assert lineage["helpfulness_rm"] == "rm-helpfulness-iter1" and models["rm-safety-iter1"]["current"]
    # the batches were closed and their comparisons export
    exported = stack.workdir / "all.jsonl"
    stack.manage(
        "export_preferences",
        "--batch",
        "iter1-helpfulness",
        "--batch",
        "iter1-safety",
        "--format",
        "trl",
        "--output",
        str(exported),
    )
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert rows and all(r["chosen_model"] == "policy-v0" for r in rows)
