import json
from dataclasses import replace

import pytest
import torch

from reward_training.data.prompts import PromptItem
from reward_training.generation import best_of_k_generate, model_load
from reward_training.policy import rejection_sampling
from reward_training.policy.rejection_sampling import rejection_sample
from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.sample_pool import STAGED, pool_merge, pool_read, pool_write
from reward_training.policy.sft_config import SFTConfig
from reward_training.reward.scorer import RewardScorer
from reward_training.testing import tiny_chat_model_save, tiny_reward_model_save


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rs")
    return {
        "policy": tiny_chat_model_save(root / "policy"),
        "helpfulness": tiny_reward_model_save(root / "rm-h", seed=1),
        "safety": tiny_reward_model_save(root / "rm-s", seed=2),
    }


def tiny_config(**fields) -> RejectionSamplingConfig:
    """A config the tiny models run in seconds: 8 new tokens, no progress bars and one short SFT epoch
    (`sft` holds the SFTConfig fields to change)."""
    sft = dict(epochs=1, batch_size=2, micro_batch_size=2, max_length=64, progress=False) | fields.pop("sft", {})
    return RejectionSamplingConfig(**(dict(max_new_tokens=8, progress=False) | fields), sft=SFTConfig(**sft))


def tiny_rejection_sample(config, models, prompts, pool_dir, output_dir, **options):
    """rejection_sample with the module's tiny policy and reward models; `options` may replace any of them."""
    dirs = dict(policy_dir=models["policy"], helpfulness_rm_dir=models["helpfulness"], safety_rm_dir=models["safety"])
    return rejection_sample(config, **{**dirs, **options}, prompts=prompts, pool_dir=pool_dir, output_dir=output_dir)


def test_an_iteration_stages_its_samples_and_leaves_the_pool_to_the_promotion(models, tmp_path):
    prompts = [
        PromptItem([{"role": "user", "content": text}], safety=i == 0)
        for i, text in enumerate(["How do I hurt someone?", "Tell me a story.", "What is the sea?"])
    ]
    config = tiny_config(k=3, temperature=1.0)
    pool = tmp_path / "pool"
    first = tiny_rejection_sample(config, models, prompts, pool, tmp_path / "v1")
    assert first["iteration"] == 1 and first["pool_size"] == 0 and first["training_examples"] == 3
    assert (tmp_path / "v1" / "config.json").is_file() and (tmp_path / "v1" / "reward_vs_k.png").is_file()
    curve = json.loads((tmp_path / "v1" / "reward_vs_k.json").read_text())
    assert curve["k"] == [1, 2, 3] and curve["max"][-1] >= curve["max"][0] >= curve["median"][-1] - 1e-9
    assert first["mean_best_reward"] == pytest.approx(curve["max"][-1])
    # the SFT steps and the iteration's reward statistics are in its TensorBoard run, beside the policy
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(first["tracking"]["log_dir"])
    events.Reload()
    assert first["tracking"]["log_dir"] == str(tmp_path / "runs" / "v1")
    assert {"loss", "rejection_sampling/mean_best_reward", "rejection_sampling/finished_rate/sampled"} <= set(
        events.Tags()["scalars"]
    )
    assert events.Scalars("rejection_sampling/mean_best_reward")[0].value == pytest.approx(first["mean_best_reward"])
    # the kept samples wait beside the candidate; the pool is untouched until a promotion merges them
    staged = [json.loads(line) for line in (tmp_path / "v1" / STAGED).read_text().splitlines()]
    assert [row["safety"] for row in staged] == [True, False, False] and pool_read(pool) == []
    # a rejected candidate: the next iteration starts from the same policy and finds the pool as it was
    rejected = tiny_rejection_sample(config, models, prompts, pool, tmp_path / "v1b")
    assert rejected["pool_size"] == 0 and pool_read(pool) == []
    # a promoted one: its samples join the pool, and the next iteration re-scores them with its RMs
    assert pool_merge(pool, tmp_path / "v1") == 1
    second = tiny_rejection_sample(
        config,
        models,
        prompts,
        pool,
        tmp_path / "v2",
        policy_dir=tmp_path / "v1",
        helpfulness_rm_dir=models["safety"],
        safety_rm_dir=models["helpfulness"],
    )
    assert second["iteration"] == 2 and second["pool_size"] == 3 and second["pool_iterations"] == [1]
    assert second["training_examples"] == 3  # the best per prompt among the pool and the new samples


def test_the_pool_is_rescored_and_a_pooled_sample_can_beat_the_new_ones(models, tmp_path, monkeypatch):
    # given a pooled reply whose reward when sampled was poor, and reward models that now like it best
    prompts = [PromptItem([{"role": "user", "content": text}]) for text in ["Hello", "Why?"]]
    pool = tmp_path / "pool"
    pool_write(pool, 1, [{"prompt": prompts[0].messages, "response": "a pooled reply", "reward": -100.0}])
    monkeypatch.setattr(
        RewardScorer,
        "score",
        lambda self, p, responses, finished=None: torch.tensor(
            [8.0 if text == "a pooled reply" else 0.0 for text in responses]
        ),
    )
    config = tiny_config(k=2)
    captured = {}
    real_sft = rejection_sampling.sft_train

    def sft(config, examples, policy_dir, output_dir, **options):
        captured["examples"] = examples
        return real_sft(config, examples, policy_dir, output_dir, **options)

    monkeypatch.setattr(rejection_sampling, "sft_train", sft)
    # when rejection sampling runs
    metrics = tiny_rejection_sample(config, models, prompts, pool, tmp_path / "v1")
    # then SFT trains on the pooled reply for "Hello" (re-scored) and on a new sample for "Why?"
    assert metrics["pool_size"] == 1 and metrics["training_from_pool"] == 1
    assert [example[-1]["content"] for example in captured["examples"]][0] == "a pooled reply"
    assert len(captured["examples"]) == 2


def test_best_of_k_keeps_a_truncated_reply_only_where_none_finished(models, tmp_path, monkeypatch):
    # given K=3 samples per prompt, where prompt 0 has no finished sample, prompt 1 one, prompt 2 all three
    pattern = [[False, False, False], [False, True, False], [True, True, True]]

    def generate(*args, **kwargs):
        rows = best_of_k_generate(*args, **kwargs)
        return [[replace(s, finished_with_eos=f) for s, f in zip(row, flags)] for row, flags in zip(rows, pattern)]

    scored_flags = []
    real_score = RewardScorer.score

    def score(self, prompts, responses, finished=None):
        scored_flags.append(list(finished))
        return real_score(self, prompts, responses, finished)

    monkeypatch.setattr(rejection_sampling, "best_of_k_generate", generate)
    monkeypatch.setattr(RewardScorer, "score", score)
    prompts = [PromptItem([{"role": "user", "content": text}]) for text in ["Hello", "Tell me a story.", "Why?"]]
    config = tiny_config(k=3, sft=dict(loss_on="last"))
    # when rejection sampling runs
    metrics = tiny_rejection_sample(config, models, prompts, tmp_path / "pool", tmp_path / "v1")
    # then both reward models scored each sample knowing whether it finished ...
    assert scored_flags == [sum(pattern, [])] * 2
    # ... a truncated reply was kept only for prompt 0, and the pool row says so ...
    rows = [json.loads(line) for line in (tmp_path / "v1" / STAGED).read_text().splitlines()]
    assert [row["finished"] for row in rows] == [False, True, True]
    assert metrics["truncated"] == pytest.approx({"sampled": 5 / 9, "kept": 1 / 3, "pool": 1 / 3})
    # ... and prompt 1 kept its one finished sample whatever the rewards of the cut-off ones
    assert rows[1]["response"] == generate_texts(models, prompts, config)[1][1]


def generate_texts(models, prompts, config):
    loaded = model_load(models["policy"], device="cpu")
    rows = best_of_k_generate(
        loaded,
        [p.messages for p in prompts],
        k=config.k,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
        batch_size=config.generation_batch_size,
    )
    return [[s.text.strip() for s in row] for row in rows]


def test_a_temperature_sweep_picks_the_grids_best_and_runs_in_full_at_it(models, tmp_path, monkeypatch):
    # given a grid of three temperatures swept on two of four prompts
    calls = []

    def generate(loaded, messages, **kwargs):
        calls.append((kwargs["temperature"], len(messages)))
        return best_of_k_generate(loaded, messages, **kwargs)

    monkeypatch.setattr(rejection_sampling, "best_of_k_generate", generate)
    prompts = [PromptItem([{"role": "user", "content": text}]) for text in ["Hello", "Tell me a story.", "Why?", "Hi"]]
    config = tiny_config(k=3, temperature=1.0, temperature_sweep=[0.5, 1.0, 2.0], sweep_prompts=2)
    stages = []
    # when rejection sampling runs
    metrics = tiny_rejection_sample(config, models, prompts, tmp_path / "pool", tmp_path / "v1", on_stage=stages.append)
    # then the Fig. 8 curves are written beside the Fig. 7 one, one per temperature ...
    sweep = json.loads((tmp_path / "v1" / rejection_sampling.SWEEP_JSON).read_text())
    assert (tmp_path / "v1" / rejection_sampling.SWEEP_PNG).stat().st_size > 10_000
    assert (tmp_path / "v1" / rejection_sampling.CURVE_PNG).is_file()
    assert [row["temperature"] for row in sweep["by_temperature"]] == [0.5, 1.0, 2.0]
    assert sweep["k"] == [1, 2, 3] and sweep["prompts"] == 2
    for row in sweep["by_temperature"]:
        assert row["score"] == row["max"][-1] and row["max"][-1] >= row["median"][-1]
    # ... the chosen temperature is the grid's best by the recorded metric ...
    best = max(sweep["by_temperature"], key=lambda row: row["score"])
    assert sweep["chosen"] == best["temperature"] and metrics["temperature"] == best["temperature"]
    assert metrics["temperature_sweep"] == sweep
    # ... and the full run sampled every prompt at it, after a sweep on the subset
    assert calls == [(0.5, 2), (1.0, 2), (2.0, 2), (best["temperature"], 4)]
    assert stages == ["sweeping", "sampling", "scoring", "fine-tuning"]


def test_without_a_sweep_the_configured_temperature_is_used(models, tmp_path):
    config = tiny_config(k=2, temperature=0.8)
    assert config.temperature_sweep == ()  # off by default
    metrics = tiny_rejection_sample(
        config, models, [PromptItem([{"role": "user", "content": "Hi"}])], tmp_path / "pool", tmp_path / "v1"
    )
    assert metrics["temperature"] == 0.8 and metrics["temperature_sweep"] is None
    assert not (tmp_path / "v1" / rejection_sampling.SWEEP_JSON).exists()
    with pytest.raises(ValueError, match="temperature_sweep"):
        RejectionSamplingConfig(temperature_sweep=[1.0, 0.0])
