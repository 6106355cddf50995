"""The two training steps of the loop, shared by `run_iteration` and the dashboard's jobs:
both reward models on the paper's mixtures, and a policy refreshed by rejection sampling.

Each step registers what it made as model versions with their lineage. Rejection sampling's pool
belongs to a policy lineage, MODEL_DIR/rejection_pool/<name of the lineage's first policy>; a refreshed
policy's samples wait in its own directory and join that pool when it is promoted (`policy_pool_merge`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from annotation.models import ModelVersion, Track
from annotation.services.model_versions import model_version_register
from reward_training.config import config_build
from reward_training.data.prompts import PromptItem
from reward_training.evaluation.reward_accuracy import accuracy_summary
from reward_training.policy.rejection_sampling import rejection_sample
from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.sample_pool import pool_dir, pool_merge
from reward_training.reward.api import evaluate_reward_model, train_reward_model
from reward_training.reward.reward_config import RewardConfig
from reward_training.tracking import TRACKERS as TRACKER_NAMES

Progress = Callable[[float, str], None]  # (fraction done 0..1, what is happening)
TRACKS = tuple(Track.values)


@dataclass
class TrainingSettings:
    """Overrides of the reward-model and rejection-sampling settings; None keeps the default of
    RewardConfig (derived from the data and model sizes) or RejectionSamplingConfig. `run_iteration` sets
    its own (IterationConfig.training); the dashboard's jobs take them from the JOB_TRAINING setting."""

    rm_batch_size: int | None = None
    rm_max_length: int | None = None
    rm_lr: float | None = None  # None: from the data and base model sizes (RewardConfig.data_size_choose)
    rm_epochs: int | None = None
    rm_save_every_steps: int | None = None
    k: int | None = None  # rejection sampling: samples per prompt
    temperature: float | None = None  # rejection sampling temperature
    # rejection sampling: temperatures to sweep on a subset of prompts first (paper Fig. 8); the best one
    # replaces `temperature`, and so any per-iteration schedule (run_iteration --rs-temperatures) behind it
    temperature_sweep: tuple[float, ...] | None = None
    sweep_prompts: int | None = None  # prompts the sweep samples (default 32)
    max_new_tokens: int | None = None
    sft_epochs: float | None = None
    sft_lr: float | None = None
    tracker: str | None = None  # where the runs' step metrics go (reward_training/tracking.py); None: tensorboard
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: dict) -> TrainingSettings:
        """From a settings mapping; an unknown key is a ValidationError that names it."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValidationError({"JOB_TRAINING": [f"unknown setting(s): {', '.join(unknown)}"]})
        if values.get("tracker") not in (None, *TRACKER_NAMES):
            raise ValidationError({"TRACKER": [f"{values['tracker']!r} is not one of {', '.join(TRACKER_NAMES)}"]})
        return cls(**values)


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _silent(fraction: float, stage: str) -> None:
    pass


def reward_models_train(
    *,
    data: Path,
    base: str,
    workdir: Path,
    suffix: str,
    batches: list[str],
    training: TrainingSettings,
    current: bool,
    on_progress: Progress = _silent,
) -> dict[str, ModelVersion]:
    """Train the helpfulness and safety RMs on `data` (export format), each on its paper mixture, and
    register them as rm-<track>-<suffix>. A rerun keeps a track already registered and resumes the
    other from its last checkpoint under workdir."""
    versions = {}
    for i, track in enumerate(TRACKS):
        name = f"rm-{track}-{suffix}"
        versions[track] = ModelVersion.objects.filter(name=name).first()
        if versions[track] is not None:
            continue
        config = config_build(
            RewardConfig,
            base_model=base,
            output_dir=str(workdir / f"rm-{track}"),
            kind=track,
            mixture=track,
            seed=training.seed,
            **_given(
                batch_size=training.rm_batch_size,
                max_length=training.rm_max_length,
                learning_rate=training.rm_lr,
                epochs=training.rm_epochs,
                save_every_steps=training.rm_save_every_steps,
                tracker=training.tracker,
            ),
        )

        def on_step(step: int, total: int, i: int = i, track: str = track) -> None:
            on_progress((i + step / total) / len(TRACKS), f"{track} reward model: step {step}/{total}")

        on_progress(i / len(TRACKS), f"{track} reward model: starting")
        result = train_reward_model(config, [str(data)], "trl", on_step=on_step)
        versions[track] = model_version_register(
            name=name,
            kind="reward",
            track=track,
            path=result["output_dir"],
            lineage={
                "base": base,
                "data_files": [str(data)],
                "batches": batches,
                "data_manifest": str(Path(result["output_dir"]) / "data_manifest.json"),
            },
            metrics={
                k: result.get(k)
                for k in (
                    "n_train_pairs",
                    "pairs_per_second",
                    "dropped_identical",
                    "resumed_from",
                    "tracking",
                    "batch_size",
                    "epochs",
                    "learning_rate",
                )
            },
            current=current,
        )
    on_progress(1.0, "reward models registered")
    return versions


def reward_models_accuracy(
    *,
    rms: dict[str, ModelVersion],
    data: Path,
    on_progress: Progress = _silent,
) -> dict[str, dict]:
    """Each reward model's pairwise accuracy on `data` (export format), overall, by strength and by safety
    bin: the paper's check of the current RMs on a new batch, before they are retrained (3.2.2)."""
    measured = {}
    for i, (track, version) in enumerate(rms.items()):
        on_progress(i / len(rms), f"scoring with {version.name}")
        report = evaluate_reward_model(version.path, str(data), "trl", write_report=False)
        measured[track] = {"model": version.name, **accuracy_summary(report)}
    return measured


def policy_pool_dir(policy: ModelVersion) -> Path:
    """The rejection-sampling pool of the policy's lineage: named after the first policy of its parent chain."""
    root = policy
    while root.parent_id is not None:
        root = root.parent
    return pool_dir(Path(settings.MODEL_DIR) / "rejection_pool", root.name)


def policy_pool_merge(*, policy: ModelVersion) -> list[int]:
    """Add the staged rejection-sampling samples of a promoted policy and of its ancestors (those it was
    grown from, such as the rejection-sampling step under a PPO policy) to its lineage's pool, oldest first.
    Merging is idempotent, so this also catches up on a policy made current by hand. Returns the pool
    iterations they are."""
    chain = [policy]
    while chain[-1].parent_id is not None:
        chain.append(chain[-1].parent)
    pool = policy_pool_dir(policy)
    merged = [pool_merge(pool, version.path) for version in reversed(chain)]
    return [iteration for iteration in merged if iteration is not None]


def policy_refresh(
    *,
    policy: ModelVersion,
    rms: dict[str, ModelVersion],
    prompts: list[PromptItem],
    workdir: Path,
    name: str,
    lineage: dict,
    training: TrainingSettings,
    on_progress: Progress = _silent,
) -> tuple[ModelVersion, dict]:
    """Best-of-K under the RMs' combined reward on `prompts`, SFT on the best per prompt of these samples and
    the lineage's re-scored pool, and the result registered as policy `name` (a child of `policy`, not
    current: the promotion gate decides, and `policy_pool_merge` adds its samples to the pool on promotion)."""
    stages = {"sweeping": 0.02, "sampling": 0.05, "scoring": 0.45, "fine-tuning": 0.55}
    config = RejectionSamplingConfig(
        seed=training.seed,
        **_given(
            k=training.k,
            temperature=training.temperature,
            max_new_tokens=training.max_new_tokens,
            temperature_sweep=training.temperature_sweep,
            sweep_prompts=training.sweep_prompts,
        ),
    )
    config.sft = replace(
        config.sft, **_given(epochs=training.sft_epochs, learning_rate=training.sft_lr, tracker=training.tracker)
    )
    pool = policy_pool_dir(policy)
    policy_pool_merge(policy=policy)
    rs = rejection_sample(
        config,
        policy_dir=policy.path,
        helpfulness_rm_dir=rms["helpfulness"].path,
        safety_rm_dir=rms["safety"].path,
        prompts=prompts,
        pool_dir=pool,
        output_dir=workdir / "policy",
        on_stage=lambda stage: on_progress(stages[stage], f"rejection sampling: {stage}"),
    )
    version = model_version_register(
        name=name,
        kind="policy",
        path=str(workdir / "policy"),
        parent=policy,
        lineage={
            "method": "rejection_sampling",
            "parent": policy.name,
            "helpfulness_rm": rms["helpfulness"].name,
            "safety_rm": rms["safety"].name,
            "k": config.k,
            "temperature": rs["temperature"],
            "temperature_sweep": config.temperature_sweep or None,
            "pool": str(pool),
            "pool_iterations": rs["pool_iterations"],
            **lineage,
        },
        metrics={
            "mean_best_reward": rs["mean_best_reward"],
            "mean_median_reward": rs["mean_median_reward"],
            "tracking": rs["tracking"],
        },
    )
    on_progress(1.0, "policy registered")
    return version, rs
