import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from reward_training.config import config_build
from reward_training.policy.sft import sft_encode, sft_evaluate, sft_fit, sft_train
from reward_training.policy.sft_config import SFTConfig
from reward_training.policy.sft_data import sft_example
from reward_training.testing import tiny_chat_model_save

EXAMPLES = [
    sft_example("What is the capital of France?", "The capital of France is Paris."),
    sft_example("Why is the sky blue?", "Sunlight is scattered by the air."),
    sft_example("Hello, how are you today?", "I am fine, thank you."),
    sft_example("Can you tell me a story?", "Once upon a time there was a small dog."),
]


def test_config_defaults_are_the_papers_and_checks_divisibility():
    config = SFTConfig()
    assert (config.epochs, config.learning_rate, config.weight_decay, config.batch_size, config.max_length) == (
        2,
        2e-5,
        0.1,
        64,
        4096,
    )
    assert config.accumulation_steps == 8
    with pytest.raises(ValueError):
        SFTConfig(batch_size=10, micro_batch_size=4)
    with pytest.raises(ValueError):
        config_build(SFTConfig, learning_rat=1e-3)


def test_sft_lowers_the_loss_on_its_training_data(tmp_path):
    # given a tiny random model
    base = tiny_chat_model_save(tmp_path / "base", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = SFTConfig(
        epochs=20,
        learning_rate=5e-3,
        batch_size=4,
        micro_batch_size=4,
        max_length=128,
        device="cpu",
        progress=False,
    )
    data, _ = sft_encode(tokenizer, EXAMPLES, config)
    before_model = AutoModelForCausalLM.from_pretrained(base)
    before = sft_evaluate(before_model, data, pad_token_id=tokenizer.pad_token_id)
    # when fine-tuned
    metrics = sft_train(config, EXAMPLES, base, tmp_path / "sft")
    # then the saved model fits its data much better, and the checkpoint is complete
    after_model = AutoModelForCausalLM.from_pretrained(tmp_path / "sft")
    after = sft_evaluate(after_model, data, pad_token_id=tokenizer.pad_token_id)
    assert torch.isfinite(torch.tensor(metrics["loss"])).all()
    assert metrics["steps"] == 20
    assert after < 0.5 * before
    assert json.loads((tmp_path / "sft" / "sft_config.json").read_text())["learning_rate"] == 5e-3
    assert json.loads((tmp_path / "sft" / "sft_metrics.json").read_text())["steps"] == 20
    assert not list(tmp_path.glob(".sft.tmp-*"))
    changed = any(
        not torch.equal(a, b) for a, b in zip(before_model.state_dict().values(), after_model.state_dict().values())
    )
    assert changed


def test_max_steps_and_overwrite(tmp_path):
    base = tiny_chat_model_save(tmp_path / "base")
    config = SFTConfig(batch_size=2, micro_batch_size=1, max_steps=1, device="cpu", progress=False)
    sft_train(config, EXAMPLES, base, tmp_path / "out")
    metrics = sft_train(config, EXAMPLES, base, tmp_path / "out")  # an existing output is replaced
    assert metrics["steps"] == 1 and (tmp_path / "out" / "model.safetensors").is_file()


class _StepLog:
    """A tracker that keeps what sft_fit logs each step."""

    def __init__(self):
        self.steps: list[dict] = []

    def log(self, metrics, step):
        self.steps.append(metrics)


def test_sft_warms_up_and_decays_on_the_reward_models_schedule(tmp_path):
    # given 4 optimizer steps, 2 of them warm-up, and a cosine to a tenth of the peak
    base = tiny_chat_model_save(tmp_path / "base")
    config = SFTConfig(
        epochs=1,
        learning_rate=1e-3,
        batch_size=1,
        micro_batch_size=1,
        max_length=64,
        warmup_steps=2,
        min_lr_ratio=0.1,
        device="cpu",
        progress=False,
    )
    run = _StepLog()
    # when fine-tuned
    sft_fit(AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base), EXAMPLES, config, run=run)
    # then step 0 runs at lr 0 (transformers' convention), the peak comes after the warm-up, then the cosine
    assert [m["lr"] for m in run.steps] == pytest.approx([0.0, 5e-4, 1e-3, 5.5e-4])
