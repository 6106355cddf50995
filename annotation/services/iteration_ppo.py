"""The optional PPO stage of an iteration (annotation/services/iterations.py): PPO on top of the
rejection-sampling checkpoint with the iteration's reward models, registered as the checkpoint's child."""

from __future__ import annotations

from pathlib import Path

from annotation.models import ModelVersion
from annotation.services.iteration_config import IterationConfig
from annotation.services.model_versions import model_version_register
from reward_training.data.prompts import prompts_read
from reward_training.policy.ppo import PPOConfig, ppo_train


def policy_ppo(iteration: int, rs_policy: ModelVersion, rms: dict, workdir: Path, config: IterationConfig):
    """PPO on top of the rejection-sampling checkpoint, with the iteration's reward models."""
    import random

    items = prompts_read(config.rs_prompts)
    random.Random(config.seed).shuffle(items)
    keep = min(config.ppo_heldout, len(items) // 3)
    heldout, train = items[:keep], items[keep:]
    minibatch = min(config.ppo_minibatch_size, len(train))
    batch = min(config.ppo_batch_size, len(train)) // minibatch * minibatch  # a small prompt set shrinks both
    ppo_config = PPOConfig(
        iterations=config.ppo_iterations,
        batch_size=batch,
        minibatch_size=minibatch,
        micro_batch_size=min(8, minibatch),
        learning_rate=config.ppo_lr,
        beta=config.ppo_beta,
        max_new_tokens=config.max_new_tokens,
        eval_every=5,
        seed=config.seed,
    )
    result = ppo_train(
        ppo_config,
        policy_dir=rs_policy.path,
        helpfulness_rm_dir=rms["helpfulness"].path,
        safety_rm_dir=rms["safety"].path,
        prompts=train,
        heldout_prompts=heldout or None,
        output_dir=workdir / "policy-ppo",
    )
    version = model_version_register(
        name=f"{rs_policy.name}-ppo",
        kind="policy",
        path=str(workdir / "policy-ppo"),
        parent=rs_policy,
        lineage={
            "method": "ppo",
            "iteration": iteration,
            "parent": rs_policy.name,
            "helpfulness_rm": rms["helpfulness"].name,
            "safety_rm": rms["safety"].name,
            "beta": config.ppo_beta,
            "iterations_run": result["iterations_run"],
        },
        metrics={
            "heldout_rewards": result.get("heldout_rewards"),
            "best_iteration": result.get("best_iteration"),
            "tracking": result.get("tracking"),
        },
    )
    return version, {
        k: result.get(k)
        for k in (
            "iterations_run",
            "stopped_early",
            "best_iteration",
            "initial_heldout_reward",
            "heldout_rewards",
            "truncated",
        )
    }
