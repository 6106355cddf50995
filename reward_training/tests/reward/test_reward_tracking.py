"""Reward-model training sends its step metrics to TensorBoard: the events load with TensorBoard's reader."""

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reward_training.reward.api import train_reward_model
from reward_training.testing import tiny_reward_config


def test_a_tiny_run_writes_tensorboard_scalars_with_its_loss(tiny_llama_dir, tmp_path, synthetic):
    train = synthetic(tmp_path / "train.jsonl", 24, seed=1)
    result = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "rm"), [str(train)], "trl", progress=False
    )
    log_dir = Path(result["tracking"]["log_dir"])
    assert result["tracking"]["tracker"] == "tensorboard" and log_dir == tmp_path / "runs" / "rm"
    events = EventAccumulator(str(log_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "accuracy", "lr", "grad_norm", "tokens_per_second"} <= tags
    losses = events.Scalars("loss")
    assert [e.step for e in losses] == [1, 2, 3]  # 24 pairs, 8 a step
    state = json.loads((tmp_path / "rm" / "trainer_state.json").read_text())
    assert [e.value for e in losses] == pytest.approx([h["loss"] for h in state["history"]], rel=1e-6)


def test_tracker_none_writes_nothing_and_an_unknown_one_is_refused(tiny_llama_dir, tmp_path, synthetic):
    train = synthetic(tmp_path / "train.jsonl", 8, seed=1)
    result = train_reward_model(
        tiny_reward_config(tiny_llama_dir, tmp_path / "rm", tracker="none"), [str(train)], "trl", progress=False
    )
    assert result["tracking"] == {"tracker": "none", "log_dir": None, "run_name": "rm"}
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="tracker must be one of tensorboard, mlflow, wandb, trackio, none"):
        tiny_reward_config(tiny_llama_dir, tmp_path / "rm2", tracker="neptune")


def test_the_tracked_hyperparameters_are_the_resolved_ones(tmp_path):
    """Batch, epochs and lr left unset are derived from the data after the tracker is built: the run records
    the values trained with, not None."""
    from reward_training.tracking import RunTracker

    run = RunTracker("none", output_dir=tmp_path / "rm", config={"batch_size": None, "epochs": None, "seed": 0})
    assert run.config == {"seed": 0}
    run.start(config={"batch_size": 32, "epochs": 3, "seed": 0, "margin_table": {"better": 1.0}})
    assert run.config == {"batch_size": 32, "epochs": 3, "seed": 0}
