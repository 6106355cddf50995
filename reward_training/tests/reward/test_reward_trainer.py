import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from reward_training.config import config_build
from reward_training.reward.api import evaluate_reward_model, train_reward_model
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.scorer import RewardScorer
from reward_training.testing import accelerate_launch_cpu, tiny_reward_config

REPO = Path(__file__).resolve().parents[3]


def _weights(directory):
    return load_file(Path(directory) / "model.safetensors")


def _assert_same_weights(a, b, **tolerance):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], msg=name, **tolerance)


def test_config_checks_cross_field_rules():
    with pytest.raises(ValueError, match="micro_batch_size"):
        RewardConfig(base_model="m", output_dir="o", batch_size=4, micro_batch_size=8)
    with pytest.raises(ValueError, match="safety_aux_loss"):
        RewardConfig(base_model="m", output_dir="o", safety_aux_loss=True)
    with pytest.raises(ValueError, match="unknown"):
        config_build(RewardConfig, base_model="m", output_dir="o", lr=1.0)


def test_tiny_decoder_learns_a_separable_preference(tiny_llama_dir, tmp_path, synthetic):
    train, held_out = synthetic(tmp_path / "train.jsonl", 96, seed=1), synthetic(tmp_path / "eval.jsonl", 64, seed=2)
    config = tiny_reward_config(tiny_llama_dir, tmp_path / "rm", epochs=3, batch_size=16, micro_batch_size=8)
    result = train_reward_model(config, [str(train)], "trl", eval_file=str(held_out), progress=False)
    assert result["accuracy"] > 0.9
    assert result["prefix_sharing"] is True and result["n_train_pairs"] == 96 and result["dropped_identical"] == 0
    assert set(result["accuracy_by_strength"]) == {
        "significantly_better",
        "better",
        "slightly_better",
        "negligibly_better",
    }
    assert result["pairs_per_second"] > 0
    out = Path(result["output_dir"])
    assert (out / "eval_metrics.json").is_file() and (out / "eval_accuracy_by_strength.png").stat().st_size > 1000
    assert json.loads((out / "data_manifest.json").read_text())["n_pairs"] == 96
    # The saved model loads as a plain HF sequence classifier, and scores as it did in training.
    assert AutoModelForSequenceClassification.from_pretrained(out).config.num_labels == 1
    again = evaluate_reward_model(str(out), str(held_out), "trl")
    assert again["n"] == 64 and again["accuracy"] == pytest.approx(result["accuracy"])


def test_tiny_encoder_trains_and_changes_its_weights(tiny_bert_dir, tmp_path, synthetic):
    train = synthetic(tmp_path / "train.jsonl", 16, seed=1)
    result = train_reward_model(tiny_reward_config(tiny_bert_dir, tmp_path / "rm"), [str(train)], "trl", progress=False)
    assert result["prefix_sharing"] is False and result["steps"] == 2
    assert torch.isfinite(torch.tensor(result["train_loss"]))
    before = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=1).state_dict()
    after = _weights(result["output_dir"])
    assert not torch.equal(
        before["bert.encoder.layer.0.attention.self.query.weight"],
        after["bert.encoder.layer.0.attention.self.query.weight"],
    )


def test_prefix_sharing_and_grouping_do_not_change_the_trained_model(tiny_llama_dir, tmp_path, synthetic):
    train = synthetic(tmp_path / "train.jsonl", 16, seed=1)
    fast = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "fast"), [str(train)], "trl", progress=False
    )
    plain = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "plain", prefix_sharing=False),
        [str(train)],
        "trl",
        progress=False,
    )
    _assert_same_weights(fast["output_dir"], plain["output_dir"], atol=1e-5, rtol=1e-4)


def test_safety_auxiliary_loss_runs_on_labelled_pairs(tiny_llama_dir, tmp_path, synthetic):
    path = tmp_path / "safety.jsonl"
    synthetic(path, 16, seed=1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for i, row in enumerate(rows):
        row.update(track="safety", safety_bin=["chosen_safe_other_unsafe", "both_safe", "both_unsafe"][i % 3])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_reward_config(tiny_llama_dir, tmp_path / "rm", kind="safety", mixture="safety", safety_aux_loss=True)
    result = train_reward_model(config, [str(path)], "trl", progress=False)
    assert result["steps"] == 2 and torch.isfinite(torch.tensor(result["train_loss"]))


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import torch
torch.set_num_threads(1)
from reward_training.config import config_build
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.reward_trainer import reward_train
from reward_training.data.preferences import preferences_read

def die(step, total):
    if step == 3:
        os.kill(os.getpid(), signal.SIGKILL)

config = config_build(RewardConfig, file={config!r})
reward_train(config, preferences_read({data!r}, "trl"), progress=False, on_step=die)
"""


def test_training_resumes_after_a_kill_and_ends_where_an_unbroken_run_ends(tiny_llama_dir, tmp_path, synthetic):
    data = synthetic(tmp_path / "train.jsonl", 24, seed=1)
    config = tiny_reward_config(tiny_llama_dir, tmp_path / "killed", epochs=2, save_every_steps=1)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.__dict__))
    script = KILLED_RUN.format(repo=str(REPO), config=str(config_file), data=str(data))
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    checkpoints = sorted(p.name for p in Path(config.output_dir).glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-0000003"]
    state = json.loads((Path(config.output_dir) / checkpoints[0] / "trainer_state.json").read_text())
    assert (
        state["step"] == 3 and state["config"]["learning_rate"] == config.learning_rate and len(state["history"]) == 3
    )
    # A half-written checkpoint (a crash inside a save) is ignored.
    (Path(config.output_dir) / ".checkpoint-0000004.tmp-1").mkdir()

    resumed = train_reward_model(config, [str(data)], "trl", progress=False)
    assert resumed["resumed_from"] == [3] and resumed["steps"] == 6
    unbroken = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "unbroken", epochs=2), [str(data)], "trl", progress=False
    )
    _assert_same_weights(resumed["output_dir"], unbroken["output_dir"], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp2"])
def test_two_processes_under_accelerate_launch_match_one_process(tiny_llama_dir, tmp_path, synthetic, fsdp):
    data = synthetic(tmp_path / "train.jsonl", 24, seed=1)
    single = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "single", micro_batch_size=2), [str(data)], "trl", progress=False
    )
    result = accelerate_launch_cpu(
        "-m",
        "reward_training.reward.train",
        "--base-model",
        tiny_llama_dir,
        "--output-dir",
        str(tmp_path / "ddp"),
        "--data",
        str(data),
        "--batch-size",
        "8",
        "--micro-batch-size",
        "2",
        "--epochs",
        "1",
        "--max-length",
        "64",
        "--learning-rate",
        "3e-3",
        "--chat-format",
        "hh",
        "--save-every-steps",
        "0",
        "--no-progress",
        fsdp=fsdp,
    )
    assert result["processes"] == 2 and result["steps"] == single["steps"] == 3
    assert result["train_loss"] == pytest.approx(single["train_loss"], rel=1e-4)
    # the sharded model is gathered and saved whole: it reloads and scores as the single-process model does
    _assert_same_weights(tmp_path / "ddp", single["output_dir"], atol=1e-4, rtol=1e-3)
    prompts = [[{"role": "user", "content": "tell me about the sea"}]] * 2
    replies = ["a good calm day", "a bad calm day"]
    torch.testing.assert_close(
        RewardScorer(tmp_path / "ddp").score(prompts, replies),
        RewardScorer(single["output_dir"]).score(prompts, replies),
        atol=1e-4,
        rtol=1e-3,
    )


def test_small_data_gets_small_data_settings_unless_they_are_set(tiny_llama_dir, tmp_path, synthetic):
    # given 40 pairs and no batch, epochs or learning rate: the small-data settings, with their reasons
    data = synthetic(tmp_path / "train.jsonl", 40, seed=1)
    config = tiny_reward_config(tiny_llama_dir, tmp_path / "small", batch_size=None, learning_rate=None, epochs=None)
    config = replace(config, micro_batch_size=None)
    result = train_reward_model(config, [str(data)], "trl", progress=False)
    assert (result["batch_size"]["value"], result["epochs"]["value"], result["learning_rate"]["value"]) == (32, 8, 5e-5)
    assert result["steps"] == 8 * 2  # 40 pairs in batches of 32: two steps an epoch, so the most epochs, eight
    assert "40 training pairs, under 20,000" in result["batch_size"]["reason"]
    state = json.loads((tmp_path / "small" / "trainer_state.json").read_text())
    assert (state["config"]["batch_size"], state["config"]["micro_batch_size"], state["config"]["epochs"]) == (32, 8, 8)
    # set explicitly, they are kept
    kept = train_reward_model(tiny_reward_config(tiny_llama_dir, tmp_path / "set"), [str(data)], "trl", progress=False)
    assert kept["batch_size"]["reason"] == "batch size 8 set explicitly" and kept["steps"] == 5


def test_the_data_size_rule():
    config = RewardConfig(base_model="m", output_dir="o")
    many = config.data_size_choose(50_000, 7_000_000_000)
    assert [many[k]["value"] for k in ("batch_size", "epochs", "learning_rate")] == [512, 1, 1e-5]  # the paper's
    few_large = config.data_size_choose(3_000, 7_000_000_000)
    assert [few_large[k]["value"] for k in ("batch_size", "epochs", "learning_rate")] == [32, 3, 1e-5]
    # epochs: enough for 128 steps, from 3 to 8 (a loop iteration's few hundred pairs get the most)
    assert [config.data_size_choose(n, 22_700_000)["epochs"]["value"] for n in (200, 400, 1_000, 1_400)] == [8, 8, 4, 3]
    assert "13 steps an epoch" in config.data_size_choose(400, 22_700_000)["epochs"]["reason"]
    few_small = config.data_size_choose(3_000, 22_700_000)
    assert few_small["learning_rate"]["value"] == 5e-5 and "under 1B" in few_small["learning_rate"]["reason"]


def test_an_unset_learning_rate_is_derived_from_the_model_size(tiny_llama_dir, tmp_path, synthetic, monkeypatch):
    from reward_training.reward import reward_trainer

    train = synthetic(tmp_path / "train.jsonl", 16, seed=1)
    # given no learning rate, when a model counted at 7B parameters trains (over 1B: no small-data rate), then the
    # paper's 1e-5 for models under 60B is used
    monkeypatch.setattr(reward_trainer, "parameter_count", lambda model: 7_000_000_000)
    small = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "small", learning_rate=None), [str(train)], "trl", progress=False
    )
    assert small["learning_rate"]["value"] == 1e-5 and "under 60B" in small["learning_rate"]["reason"]
    saved = json.loads((tmp_path / "small" / "train_result.json").read_text())
    assert saved["learning_rate"] == small["learning_rate"]
    # and a model counted at 70B parameters trains at 5e-6
    monkeypatch.setattr(reward_trainer, "parameter_count", lambda model: 70_000_000_000)
    large = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "large", learning_rate=None), [str(train)], "trl", progress=False
    )
    assert large["learning_rate"]["value"] == 5e-6
    state = json.loads((tmp_path / "large" / "trainer_state.json").read_text())
    assert state["config"]["learning_rate"] == 5e-6
    assert max(h["lr"] for h in state["history"]) <= 5e-6
