"""The management commands as a user runs them: a final JSON line, a one-line reason on bad input."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Batch, ModelVersion
from annotation.tests.factories import DialogueFactory, annotate, ready_turn

pytestmark = pytest.mark.django_db


def run(*args) -> dict | list:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_registry_commands(tiny_policy_dir):
    run("create_user", "--username", "boss", "--password", "boss-passphrase", "--role", "admin")
    with pytest.raises(CommandError, match="username: a user with that username already exists"):
        run("create_user", "--username", "boss", "--password", "boss-passphrase", "--role", "admin")
    v0 = run("register_model", "--kind", "policy", "--name", "v0", "--path", str(tiny_policy_dir), "--current")
    run("register_model", "--kind", "policy", "--name", "v1", "--path", str(tiny_policy_dir), "--parent", "v0")
    assert v0["current"] and v0["track"] is None
    with pytest.raises(CommandError, match="path"):
        run("register_model", "--kind", "policy", "--name", "bad", "--path", "/nowhere")
    assert run("set_current", "v1")["current"]
    listed = {m["name"]: m for m in run("list_models", "--kind", "policy")}
    assert listed["v1"]["current"] and not listed["v0"]["current"] and listed["v1"]["parent"] == "v0"
    with pytest.raises(CommandError, match="temperatures"):
        run(
            "create_batch",
            "--name",
            "b",
            "--track",
            "safety",
            "--policy",
            "v1",
            "--temperatures",
            "hot",
            "--target",
            "5",
        )
    batch = run(
        "create_batch",
        "--name",
        "b",
        "--track",
        "safety",
        "--policy",
        "v0",
        "--policy",
        "v1",
        "--temperatures",
        "0.6,1.0",
        "--target",
        "5",
        "--overlap",
        "0.2",
        "--activate",
    )
    assert batch["status"] == "active" and Batch.objects.get(name="b").policy_versions.count() == 2


def test_export_command_writes_the_format(tmp_path):
    turn = ready_turn(dialogue=DialogueFactory())
    annotate(turn, chosen="b", strength="better")
    out = tmp_path / "all.jsonl"
    result = run("export_preferences", "--format", "trl", "--output", str(out))
    row = json.loads(out.read_text())
    assert result["pairs"] == 1 and row["margin"] == pytest.approx(2 / 3) and row["chosen_model"]
    with pytest.raises(CommandError, match="unknown batch"):
        run("export_preferences", "--batch", "nope", "--format", "trl", "--output", str(out))


@pytest.fixture
def preference_file(tmp_path):
    """Pairs a tiny model can learn: the chosen reply is polite, the rejected one is rude."""
    rows = []
    for i in range(24):
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"question {i}?"}],
                "chosen": [{"role": "assistant", "content": "Thank you, happy to help."}],
                "rejected": [{"role": "assistant", "content": "No. Go away."}],
                "strength": "better",
                "track": "helpfulness",
                "source": "platform",
                "batch": "week-1",
            }
        )
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_train_evaluate_and_register_a_reward_model(tiny_policy_dir, preference_file, tmp_path):
    run("register_model", "--kind", "policy", "--name", "base", "--path", str(tiny_policy_dir))
    result = run(
        "train_reward_model",
        "--kind",
        "helpfulness",
        "--base",
        "base",
        "--data",
        str(preference_file),
        "--output",
        str(tmp_path / "rm"),
        "--mixture",
        "none",
        "--batch-size",
        "4",
        "--micro-batch-size",
        "4",
        "--max-length",
        "48",
        "--lr",
        "1e-3",
        "--eval",
        str(preference_file),
        "--register",
        "rm-h1",
    )
    assert {"accuracy", "accuracy_by_strength", "pairs_per_second"} <= set(result)
    version = ModelVersion.objects.get(name="rm-h1")
    assert version.kind == "reward" and version.track == "helpfulness"
    assert version.lineage["batches"] == ["week-1"] and version.lineage["base"] == "base"
    assert version.metrics["learning_rate"]["value"] == 1e-3  # --lr wins over the size-derived default
    evaluated = run("evaluate_reward_model", "--model", "rm-h1", "--data", str(preference_file))
    assert evaluated["n"] == 24 and evaluated["accuracy"] == pytest.approx(result["accuracy"])
    with pytest.raises(CommandError, match="neither a registered model version nor a model directory"):
        run("evaluate_reward_model", "--model", "nope", "--data", str(preference_file))


def test_train_and_evaluate_on_an_hh_file_as_the_contract_writes_it(tiny_policy_dir, tmp_path, capsys):
    """HH files carry no platform track or source: the command trains on every pair, labelled with --kind."""
    import gzip
    import itertools

    from django.conf import settings

    hh = tmp_path / "harmless.jsonl.gz"
    with gzip.open(settings.BASE_DIR / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz", "rt") as rows:
        hh.write_bytes(gzip.compress("".join(itertools.islice(rows, 12)).encode()))
    result = run(
        "train_reward_model",
        "--kind",
        "safety",
        "--base",
        str(tiny_policy_dir),
        "--data",
        str(hh),
        "--format",
        "hh-rlhf",
        "--output",
        str(tmp_path / "rm"),
        "--batch-size",
        "4",
        "--max-length",
        "64",
    )
    assert result["mixture"] == "none" and result["n_train_pairs"] + result["dropped_identical"] == 12
    assert result["learning_rate"]["value"] == 1e-5  # no --lr: the paper's value for a model under 60B
    manifest = json.loads((tmp_path / "rm" / "data_manifest.json").read_text())
    assert manifest["by_track"] == {"safety": 12}
    assert set(manifest["by_source"]) == {"hh-rlhf"}

    capsys.readouterr()
    evaluated = run("evaluate_reward_model", "--model", str(tmp_path / "rm"), "--data", str(hh), "--format", "hh-rlhf")
    assert evaluated["n"] + evaluated["dropped_identical"] == 12
    assert "scoring" in capsys.readouterr().err  # the progress bar

    # flags label the pairs; a config file's mixture is kept, and a small batch shrinks the micro-batch with it
    config = tmp_path / "rm.json"
    config.write_text(json.dumps({"mixture": "safety", "batch_size": 4}))
    labelled = run(
        "train_reward_model",
        "--kind",
        "safety",
        "--base",
        str(tiny_policy_dir),
        "--data",
        str(hh),
        "--format",
        "hh-rlhf",
        "--source",
        "anthropic-harmless",
        "--track",
        "safety",
        "--config",
        str(config),
        "--output",
        str(tmp_path / "rm3"),
        "--max-length",
        "64",
    )
    assert labelled["mixture"] == "safety"
    manifest = json.loads((tmp_path / "rm3" / "data_manifest.json").read_text())
    assert manifest["by_source"] == {"anthropic-harmless": 12} and manifest["counts"]["safety_and_harmless"] == 12

    with pytest.raises(CommandError, match="recipe none"):
        run(
            "train_reward_model",
            "--kind",
            "helpfulness",
            "--base",
            str(tiny_policy_dir),
            "--data",
            str(hh),
            "--format",
            "hh-rlhf",
            "--mixture",
            "helpfulness",
            "--output",
            str(tmp_path / "rm2"),
        )


def test_run_iteration_refuses_a_bad_temperature_schedule_in_one_line_before_starting_a_server():
    with pytest.raises(CommandError, match=r"give temperatures separated by commas, such as 1.0,1.2 \(got '1.0,hot'\)"):
        run("run_iteration", "--simulate", "--rs-temperatures", "1.0,hot")
    with pytest.raises(CommandError, match="^iteration: rs_temperatures: give one or more temperatures, each above 0$"):
        run("run_iteration", "--simulate", "--rs-temperatures", "1.0,0")
    assert not Batch.objects.exists()


@pytest.fixture(scope="module")
def tiny_reward_models(tmp_path_factory):
    import torch
    from transformers import LlamaForSequenceClassification

    from reward_training.testing import tiny_llama_config, tiny_tokenizer

    paths = {}
    for seed, track in enumerate(("helpfulness", "safety")):
        path = paths[track] = tmp_path_factory.mktemp("rms") / f"rm-{track}"
        tokenizer = tiny_tokenizer()
        torch.manual_seed(seed)
        LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=1)).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return paths


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


def test_rejection_sample_stages_its_samples_for_the_pool_of_the_policys_lineage(
    tiny_policy_dir, tiny_reward_models, tmp_path, settings
):
    settings.MODEL_DIR = tmp_path / "models"
    run("register_model", "--kind", "policy", "--name", "base", "--path", str(tiny_policy_dir))
    prompts = tmp_path / "rs.jsonl"
    prompts.write_text('{"prompt": "How can I break into a house?", "safety": true}\n{"prompt": "Name a tree."}\n')
    result = run(
        "rejection_sample",
        "--policy",
        "base",
        "--helpfulness-rm",
        str(tiny_reward_models["helpfulness"]),
        "--safety-rm",
        str(tiny_reward_models["safety"]),
        "--prompts",
        str(prompts),
        "--k",
        "2",
        "--temperature",
        "1.0",
        "--max-new-tokens",
        "6",
        "--sft-epochs",
        "1",
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
    common = [
        "--policy",
        str(tiny_policy_dir),
        "--helpfulness-rm",
        str(tiny_reward_models["helpfulness"]),
        "--safety-rm",
        str(tiny_reward_models["safety"]),
        "--prompts",
        str(prompts),
        "--k",
        "2",
        "--max-new-tokens",
        "6",
        "--sft-epochs",
        "1",
    ]
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
