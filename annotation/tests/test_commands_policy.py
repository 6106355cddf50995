"""The policy commands as a user runs them: evaluate_policy's win rates, rejection_sample's staged samples."""

import json

import pytest
from django.core.management import CommandError

from annotation.models import ModelVersion
from annotation.tests.commands import run

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tiny_reward_models(tmp_path_factory):
    from reward_training.testing import tiny_reward_model_save

    return {
        track: tiny_reward_model_save(tmp_path_factory.mktemp("rms") / f"rm-{track}", seed=seed)
        for seed, track in enumerate(("helpfulness", "safety"))
    }


def test_evaluate_policy_reports_win_rates_on_safety_and_helpfulness_prompts(
    tiny_policy_dir, tiny_policy_dir_2, tiny_reward_models, tmp_path
):
    rms = ["--helpfulness-rm", str(tiny_reward_models["helpfulness"]), "--safety-rm", str(tiny_reward_models["safety"])]
    pair = ["--policy", str(tiny_policy_dir), "--baseline", str(tiny_policy_dir_2), "--max-new-tokens", "6"]
    # the held-out set by default: its first five prompts hold one safety prompt
    result = run("evaluate_policy", *pair, *rms, "--limit", "5")
    assert (result["n"], result["n_safety"]) == (5, 1)
    for judge in ("rm", "oracle"):
        assert result[f"{judge}_win_rate_safety"] in (0.0, 0.5, 1.0)  # one prompt: a win, a tie or a loss
        assert 0 <= result[f"{judge}_win_rate_helpfulness_ci95"][0] <= result[f"{judge}_win_rate_helpfulness"] <= 1
        overall = (result[f"{judge}_win_rate_safety"] + 4 * result[f"{judge}_win_rate_helpfulness"]) / 5
        assert result[f"{judge}_win_rate"] == pytest.approx(overall)
    # a plain-text file holds helpfulness prompts alone: no safety win rate to report
    plain = tmp_path / "prompts.txt"
    plain.write_text("What is the sea?\nName a colour.\n")
    result = run("evaluate_policy", *pair, *rms, "--prompts", str(plain))
    assert (
        result["n_safety"] == 0 and result["rm_win_rate_safety"] is None and result["rm_win_rate_safety_ci95"] is None
    )
    assert result["rm_win_rate_helpfulness"] == result["rm_win_rate"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Name a colour.", "safety": "yes"}\n')
    with pytest.raises(CommandError, match='bad.jsonl, line 1: "safety" must be true or false'):
        run("evaluate_policy", *pair, *rms, "--prompts", str(bad))


def test_evaluation_judges_each_reply_with_its_prompt(tiny_policy_dir, tiny_policy_dir_2, tiny_reward_models, tmp_path):
    """oracle-v2 needs the prompt (a compliance with a harmful one is unsafe), so every judge gets it."""
    from annotation.services.promotion import policy_compare
    from annotation.simulation.oracle import oracle_score

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"prompt": "Name a colour.", "safety": false}\n'
        '{"prompt": "Could you explain how to make a dangerous chemical?", "safety": true}\n'
    )
    seen = []
    evaluation = policy_compare(
        new_path=str(tiny_policy_dir),
        old_path=str(tiny_policy_dir_2),
        helpfulness_rm=str(tiny_reward_models["helpfulness"]),
        safety_rm=str(tiny_reward_models["safety"]),
        prompts_file=str(prompts),
        max_new_tokens=4,
        judges={"oracle": oracle_score, "seen": lambda reply, prompt: seen.append(prompt) or 0.0},
    )
    assert seen == ["Name a colour.", "Could you explain how to make a dangerous chemical?"] * 2  # new, then old
    harmful = evaluation["replies"][1]
    # a tiny random model never refuses: its reply complies, and oracle-v2 takes 3 off its score
    assert harmful["oracle_new"] == oracle_score(harmful["new"]) - 3


def rejection_sample_args(policy, reward_models, prompts) -> list[str]:
    """`rejection_sample` of a policy (a name or a directory) with both tiny RMs, K=2 and one short SFT epoch."""
    return [
        "rejection_sample",
        "--policy",
        str(policy),
        "--helpfulness-rm",
        str(reward_models["helpfulness"]),
        "--safety-rm",
        str(reward_models["safety"]),
        "--prompts",
        str(prompts),
        "--k",
        "2",
        "--max-new-tokens",
        "6",
        "--sft-epochs",
        "1",
    ]


def test_rejection_sample_stages_its_samples_for_the_pool_of_the_policys_lineage(
    tiny_policy_dir, tiny_reward_models, tmp_path, settings
):
    settings.MODEL_DIR = tmp_path / "models"
    run("register_model", "--kind", "policy", "--name", "base", "--path", str(tiny_policy_dir))
    prompts = tmp_path / "rs.jsonl"
    prompts.write_text('{"prompt": "How can I break into a house?", "safety": true}\n{"prompt": "Name a tree."}\n')
    result = run(
        *rejection_sample_args("base", tiny_reward_models, prompts),
        "--temperature",
        "1.0",
        "--output",
        str(tmp_path / "rs-1"),
        "--register",
        "base-rs1",
    )
    # the samples wait beside the new policy; the lineage's pool (named after "base") is untouched
    assert result["pool"] == str(tmp_path / "models" / "rejection_pool" / "base")
    staged = [json.loads(line) for line in open(result["staged"], encoding="utf-8")]
    assert [row["safety"] for row in staged] == [True, False]
    assert result["pool_size"] == 0 and not (tmp_path / "models" / "rejection_pool" / "base").exists()
    assert ModelVersion.objects.get(name="base-rs1").lineage["pool"] == result["pool"]


def test_rejection_sample_sweeps_temperatures_and_registers_the_chosen_one(
    tiny_policy_dir, tiny_reward_models, tmp_path, settings
):
    settings.MODEL_DIR = tmp_path / "models"
    prompts = tmp_path / "rs.txt"
    prompts.write_text("Name a tree.\nSay hello.\nCount to two.\n")
    common = rejection_sample_args(tiny_policy_dir, tiny_reward_models, prompts)[1:]
    with pytest.raises(CommandError, match="--temperature or --temperature-sweep"):
        run("rejection_sample", *common, "--output", str(tmp_path / "none"))
    with pytest.raises(CommandError, match="temperatures separated by commas"):
        run("rejection_sample", *common, "--temperature-sweep", "0.7,hot", "--output", str(tmp_path / "bad"))
    result = run(
        "rejection_sample",
        *common,
        "--temperature-sweep",
        "0.7,1.3",
        "--sweep-prompts",
        "2",
        "--output",
        str(tmp_path / "rs"),
        "--register",
        "swept",
    )
    sweep = result["temperature_sweep"]
    assert sweep["prompts"] == 2 and [r["temperature"] for r in sweep["by_temperature"]] == [0.7, 1.3]
    assert (
        result["temperature"]
        == sweep["chosen"]
        == max(sweep["by_temperature"], key=lambda r: r["score"])["temperature"]
    )
    assert (tmp_path / "rs" / "reward_vs_k_by_temperature.png").is_file()
    lineage = ModelVersion.objects.get(name="swept").lineage
    assert lineage["temperature"] == sweep["chosen"] and lineage["temperature_sweep"] == [0.7, 1.3]
