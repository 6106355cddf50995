"""The management commands as a user runs them: a final JSON line, a one-line reason on bad input."""

import json

import pytest
from django.core.management import CommandError

from annotation.models import Batch, ModelVersion
from annotation.tests.commands import hh_harmless_write, hh_training_args, run
from annotation.tests.factories import DialogueFactory, annotate, ready_turn
from reward_training.reward.reward_config import SMALL_DATA_LEARNING_RATE, SMALL_DATA_MAX_EPOCHS

pytestmark = pytest.mark.django_db


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
    batch_b = ["create_batch", "--name", "b", "--track", "safety"]
    with pytest.raises(CommandError, match="temperatures"):
        run(*batch_b, "--policy", "v1", "--temperatures", "hot", "--target", "5")
    batch = run(
        *batch_b,
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
    hh = hh_harmless_write(tmp_path / "harmless.jsonl.gz", 12)
    result = run(
        *hh_training_args("safety", tiny_policy_dir, hh, tmp_path / "rm", "--batch-size", "4", "--max-length", "64")
    )
    assert result["mixture"] == "none" and result["n_train_pairs"] + result["dropped_identical"] == 12
    # no --lr or --epochs on 12 pairs: the small-data settings, each with its reason
    assert (
        result["learning_rate"]["value"] == SMALL_DATA_LEARNING_RATE
        and "small data" in result["learning_rate"]["reason"]
    )
    assert result["epochs"]["value"] == SMALL_DATA_MAX_EPOCHS and "12 training pairs" in result["epochs"]["reason"]
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
        *hh_training_args(
            "safety",
            tiny_policy_dir,
            hh,
            tmp_path / "rm3",
            "--source",
            "anthropic-harmless",
            "--track",
            "safety",
            "--config",
            str(config),
            "--max-length",
            "64",
        )
    )
    assert labelled["mixture"] == "safety"
    manifest = json.loads((tmp_path / "rm3" / "data_manifest.json").read_text())
    assert manifest["by_source"] == {"anthropic-harmless": 12} and manifest["counts"]["safety_and_harmless"] == 12

    with pytest.raises(CommandError, match="recipe none"):
        run(*hh_training_args("helpfulness", tiny_policy_dir, hh, tmp_path / "rm2", "--mixture", "helpfulness"))


def test_run_iteration_refuses_a_bad_temperature_schedule_in_one_line_before_starting_a_server():
    with pytest.raises(CommandError, match=r"give temperatures separated by commas, such as 1.0,1.2 \(got '1.0,hot'\)"):
        run("run_iteration", "--simulate", "--rs-temperatures", "1.0,hot")
    with pytest.raises(CommandError, match="^iteration: rs_temperatures: give one or more temperatures, each above 0$"):
        run("run_iteration", "--simulate", "--rs-temperatures", "1.0,0")
    assert not Batch.objects.exists()
