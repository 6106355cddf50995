"""SFT and PPO send their step metrics to TensorBoard, next to the model directory, not inside it."""

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reward_training.data.prompts import PromptItem
from reward_training.policy.ppo import PPOConfig, ppo_train
from reward_training.policy.sft import sft_train
from reward_training.policy.sft_config import SFTConfig
from reward_training.policy.sft_data import sft_example
from reward_training.testing import tiny_chat_model_save


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_sft_logs_loss_lr_and_tokens_per_second_each_step(tmp_path):
    base = tiny_chat_model_save(tmp_path / "base")
    examples = [
        sft_example("Why is the sky blue?", "Sunlight is scattered by the air."),
        sft_example("Hello there", "Hello, how can I help?"),
    ]
    config = SFTConfig(batch_size=2, micro_batch_size=1, max_steps=2, epochs=2, device="cpu", progress=False)
    metrics = sft_train(config, examples, base, tmp_path / "sft")
    assert metrics["tracking"]["log_dir"] == str(tmp_path / "runs" / "sft")
    logged = scalars(metrics["tracking"]["log_dir"])
    assert [step for step, _ in logged["loss"]] == [1, 2]
    assert [value for _, value in logged["loss"]] == pytest.approx(metrics["loss"], rel=1e-6)
    assert {"lr", "tokens_per_second", "trained_tokens"} <= set(logged)
    assert (tmp_path / "sft" / "model.safetensors").is_file()  # the atomic model write is untouched


def test_ppo_logs_reward_kl_finished_rate_and_tokens_per_second(tiny_policy_dir, tmp_path):
    prompts = [PromptItem([{"role": "user", "content": w}]) for w in ("Hello", "Write a poem", "Count to 3", "Thanks")]

    def reward(prompts, texts, ids):
        return torch.tensor([0.5] * len(ids))

    config = PPOConfig(
        iterations=2,
        batch_size=4,
        minibatch_size=4,
        micro_batch_size=4,
        learning_rate=1e-3,
        max_new_tokens=4,
        generation_batch_size=4,
        eval_every=100,
        progress=False,
        tracking_dir=str(tmp_path / "tb"),
    )
    summary = ppo_train(
        config, policy_dir=tiny_policy_dir, prompts=prompts, output_dir=tmp_path / "ppo", reward_fn=reward
    )
    assert summary["tracking"]["log_dir"] == str(tmp_path / "tb" / "ppo")
    logged = scalars(summary["tracking"]["log_dir"])
    assert {"reward", "kl", "finished_with_eos", "policy_loss", "tokens_per_second"} <= set(logged)
    assert [step for step, _ in logged["reward"]] == [1, 2]
    assert logged["reward"][0][1] == pytest.approx(0.5)


def test_an_optional_tracker_that_is_not_installed_is_refused_in_one_line(tmp_path):
    import importlib.util

    from reward_training.tracking import RunTracker

    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed here")
    with pytest.raises(ValueError, match=r"^the mlflow tracker needs the mlflow package: pip install mlflow"):
        RunTracker("mlflow", output_dir=Path(tmp_path) / "m")
