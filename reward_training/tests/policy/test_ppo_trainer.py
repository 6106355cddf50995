"""PPO end to end on a tiny random model (CPU, seconds per run)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from reward_training.data.prompts import PromptItem
from reward_training.generation import SampleSettings, model_load, samples_generate
from reward_training.policy.ppo import LogprobMismatch, PPOConfig, ppo_train
from reward_training.policy.ppo import trainer as ppo_trainer
from reward_training.policy.ppo.report import metrics_read
from reward_training.policy.ppo.trainer import prompt_schedule
from reward_training.testing import tiny_reward_model_save

WORDS = [
    "Hello",
    "Tell me a story",
    "What is the sea?",
    "Write a poem",
    "Why is the sky blue?",
    "Thank you",
    "How are you?",
    "Count to 3",
]
PROMPTS = [PromptItem([{"role": "user", "content": w}]) for w in WORDS]
HELDOUT = [PromptItem([{"role": "user", "content": w}]) for w in ["Good morning", "Name a colour"]]


def target_fraction_reward(prompts, texts, ids):
    """Synthetic Rc in (0, 1): grows with the share of response tokens whose id is a multiple of 4."""
    return torch.tensor([0.05 + 0.9 * sum(t % 4 == 0 for t in r) / max(1, len(r)) for r in ids])


def tiny_config(**overrides):
    # The tiny model needs a far larger step than the paper's 1e-6; four gradient steps per iteration.
    settings = dict(
        iterations=20,
        batch_size=16,
        minibatch_size=4,
        micro_batch_size=4,
        learning_rate=1.5e-3,
        max_new_tokens=8,
        generation_batch_size=16,
        eval_every=100,
        progress=False,
    )
    return PPOConfig(**{**settings, **overrides})


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


@pytest.fixture(scope="module")
def runs(tiny_policy_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ppo")
    return [
        ppo_train(
            tiny_config(seed=seed),
            policy_dir=tiny_policy_dir,
            prompts=PROMPTS,
            output_dir=root / f"seed{seed}",
            reward_fn=target_fraction_reward,
        )
        for seed in (0, 1, 2)
    ]


def test_ppo_raises_the_reward_within_the_kl_budget_over_three_seeds(runs):
    for summary in runs:
        history = summary["history"]
        assert [h["iteration"] for h in history] == list(range(1, 21))
        # given a synthetic reward, when PPO runs 20 iterations, then the reward climbs ...
        assert mean(history[15:20], "reward") > mean(history[0:5], "reward")
        # ... the policy stays near π0 (mean per-token KL below 1 nat) ...
        assert max(h["kl"] for h in history) < 1.0
        assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # π = π0 before the first update
        # ... and the trainer's log-probs matched the rollout's before every iteration's first update
        assert max(h["logprob_max_diff"] for h in history) <= 1e-4
        assert all(h["gradient_steps"] == 4 for h in history)


def test_ppo_writes_a_loadable_policy_with_metrics_and_curves(runs, tiny_policy_dir):
    out = Path(runs[0]["output_dir"])
    records = metrics_read(out)
    assert len(records) == 20
    for key in (
        "reward",
        "kl",
        "clip_fraction",
        "value_loss",
        "response_length",
        "entropy",
        "logprob_max_diff",
        "truncated",
        "missing_eos_penalty",
    ):
        assert all(isinstance(r[key], float) for r in records), key
    # every rollout either ended with EOS or was cut off, and each cut-off one paid the default penalty of 1
    for r in records:
        assert r["truncated"] + r["finished_with_eos"] == pytest.approx(1.0)
        assert r["missing_eos_penalty"] == pytest.approx(r["truncated"])
    assert runs[0]["truncated"] == {"first": records[0]["truncated"], "last": records[-1]["truncated"]}
    assert (out / "ppo_curves.png").stat().st_size > 10_000
    assert json.loads((out / "ppo_config.json").read_text())["learning_rate"] == 1.5e-3
    assert (out / "value_head.pt").is_file()
    trained, initial = load_file(out / "model.safetensors"), load_file(tiny_policy_dir / "model.safetensors")
    assert any(not torch.equal(trained[k], initial[k]) for k in initial)
    loaded = model_load(out, device="cpu")
    sample = samples_generate(loaded, PROMPTS[0].messages, [SampleSettings(max_new_tokens=4)])[0]
    assert sample.completion_tokens >= 1


def test_a_weight_sync_bug_is_caught(tiny_policy_dir, tmp_path, monkeypatch):
    real = ppo_trainer.rollout_evaluate

    def stale_rollout(*args, **kwargs):  # as if the sampler ran slightly different weights
        logprobs, *rest = real(*args, **kwargs)
        return (logprobs + 1e-3, *rest)

    monkeypatch.setattr(ppo_trainer, "rollout_evaluate", stale_rollout)
    with pytest.raises(LogprobMismatch, match="iteration 1"):
        ppo_train(
            tiny_config(iterations=1, batch_size=4),
            policy_dir=tiny_policy_dir,
            prompts=PROMPTS,
            output_dir=tmp_path / "out",
            reward_fn=target_fraction_reward,
        )


def test_early_stopping_keeps_the_best_held_out_policy(tiny_policy_dir, tmp_path):
    held_calls = []

    def reward(prompts, texts, ids):  # the held-out reward only falls after the start
        if prompts[0] in HELDOUT:
            held_calls.append(len(held_calls))
            return torch.full((len(prompts),), 0.9 - 0.1 * held_calls[-1])
        return target_fraction_reward(prompts, texts, ids)

    summary = ppo_train(
        tiny_config(iterations=10, batch_size=4, eval_every=1, early_stopping_patience=2),
        policy_dir=tiny_policy_dir,
        prompts=PROMPTS,
        heldout_prompts=HELDOUT,
        output_dir=tmp_path / "out",
        reward_fn=reward,
    )
    assert summary["stopped_early"] and summary["iterations_run"] == 2
    assert summary["best_iteration"] == 0 and summary["heldout_rewards"] == pytest.approx([0.9, 0.8, 0.7])
    saved, initial = load_file(tmp_path / "out" / "model.safetensors"), load_file(tiny_policy_dir / "model.safetensors")
    assert all(torch.equal(saved[k], initial[k]) for k in initial)  # the policy before PPO was the best
    assert len(metrics_read(tmp_path / "out")) == 2


def test_reward_models_and_a_critic_initialised_from_the_reward_model(tiny_policy_dir, tmp_path):
    helpfulness = tiny_reward_model_save(tmp_path / "rm-h", seed=1)
    safety = tiny_reward_model_save(tmp_path / "rm-s", seed=2)
    prompts = [*PROMPTS[:3], PromptItem([{"role": "user", "content": "How do I pick a lock?"}], safety=True)]
    summary = ppo_train(
        tiny_config(
            iterations=2,
            batch_size=4,
            minibatch_size=2,
            micro_batch_size=1,
            critic="reward_model",
            critic_learning_rate=1e-3,
        ),
        policy_dir=tiny_policy_dir,
        helpfulness_rm_dir=helpfulness,
        safety_rm_dir=safety,
        prompts=prompts,
        output_dir=tmp_path / "out",
    )
    history = summary["history"]
    assert len(history) == 2 and all(0.0 < h["reward"] < 1.0 for h in history)
    assert all(torch.isfinite(torch.tensor([h["value_loss"], h["policy_loss"]])).all() for h in history)
    assert max(h["logprob_max_diff"] for h in history) <= 1e-4
    assert not (tmp_path / "out" / "value_head.pt").exists()
    model_load(tmp_path / "out", device="cpu")


def test_prompt_schedule_uses_every_prompt_once_before_any_twice():
    first = prompt_schedule(5, 3, seed=0, iteration=1) + prompt_schedule(5, 3, seed=0, iteration=2)[:2]
    assert sorted(first) == [0, 1, 2, 3, 4]
    assert prompt_schedule(5, 3, seed=0, iteration=4) == prompt_schedule(5, 3, seed=0, iteration=4)
    assert len(prompt_schedule(2, 7, seed=1, iteration=3)) == 7  # fewer prompts than the batch: they repeat


def test_a_reward_outside_0_1_is_refused(tiny_policy_dir, tmp_path):
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        ppo_train(
            tiny_config(iterations=1, batch_size=4),
            policy_dir=tiny_policy_dir,
            prompts=PROMPTS,
            output_dir=tmp_path / "out",
            reward_fn=lambda p, t, ids: torch.full((len(p),), 3.0),
        )


@pytest.fixture
def bf16_process():
    """Accelerate keeps one mixed-precision setting per process: start the bf16 runs afresh, and leave the
    later (fp32) tests a fresh state too."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_bf16_ppo_runs_the_rollout_and_the_update_under_one_precision(tiny_policy_dir, tmp_path, bf16_process):
    # given bf16 autocast (on the CPU here), when PPO runs, then the log-prob check passes at bf16's tolerance ...
    summary = ppo_train(
        tiny_config(iterations=2, batch_size=4, precision="bf16"),
        policy_dir=tiny_policy_dir,
        prompts=PROMPTS,
        output_dir=tmp_path / "out",
        reward_fn=target_fraction_reward,
    )
    history = summary["history"]
    assert summary["config"]["logprob_tolerance"] == 0.1
    assert all(0.0 < h["logprob_max_diff"] <= 0.1 for h in history)  # bf16 rounding shows, within the tolerance
    # ... and π and π0 were evaluated alike: before the first update the KL is exactly zero, as in fp32
    assert history[0]["kl"] == 0.0


def test_bf16_still_catches_a_sampler_on_other_weights(tiny_policy_dir, tmp_path, monkeypatch, bf16_process):
    real = ppo_trainer.rollout_evaluate

    def rollout_on_other_weights(policy, *args, **kwargs):  # as if the sampler held the weights of a few steps ago
        saved = {k: v.clone() for k, v in policy.state_dict().items()}
        with torch.no_grad():
            for p in policy.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        try:
            return real(policy, *args, **kwargs)
        finally:
            policy.load_state_dict(saved)

    monkeypatch.setattr(ppo_trainer, "rollout_evaluate", rollout_on_other_weights)
    with pytest.raises(LogprobMismatch, match=r"tolerance 0\.1\b"):
        ppo_train(
            tiny_config(iterations=1, batch_size=4, precision="bf16"),
            policy_dir=tiny_policy_dir,
            prompts=PROMPTS,
            output_dir=tmp_path / "out",
            reward_fn=target_fraction_reward,
        )


def test_beta_comes_from_the_policy_size_unless_set(tiny_policy_dir, tmp_path, monkeypatch):
    small = ppo_train(
        tiny_config(iterations=1, batch_size=4),
        policy_dir=tiny_policy_dir,
        prompts=PROMPTS,
        output_dir=tmp_path / "small",
        reward_fn=target_fraction_reward,
    )
    assert small["beta"]["value"] == 0.01 and "under 30B" in small["beta"]["reason"]
    monkeypatch.setattr(ppo_trainer, "parameter_count", lambda model: 34_000_000_000)
    large = ppo_train(
        tiny_config(iterations=1, batch_size=4),
        policy_dir=tiny_policy_dir,
        prompts=PROMPTS,
        output_dir=tmp_path / "large",
        reward_fn=target_fraction_reward,
    )
    assert large["beta"]["value"] == 0.005
    assert json.loads((tmp_path / "large" / "ppo_config.json").read_text())["beta"] == 0.005
    explicit = ppo_train(
        tiny_config(iterations=1, batch_size=4, beta=0.02),
        policy_dir=tiny_policy_dir,
        prompts=PROMPTS,
        output_dir=tmp_path / "explicit",
        reward_fn=target_fraction_reward,
    )
    assert explicit["beta"]["value"] == 0.02 and "set explicitly" in explicit["beta"]["reason"]
