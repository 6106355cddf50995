"""The held-out evaluation behind PPO's best-policy choice and early stopping: the mean Rc on the
held-out prompts, each process sampling its share."""

from __future__ import annotations

from typing import Sequence

from reward_training.data.prompts import PromptItem
from reward_training.generation.loading import LoadedModel
from reward_training.policy.ppo.models import precision_autocast
from reward_training.policy.ppo.ppo_config import PPOConfig
from reward_training.policy.ppo.rollout import RewardFn, responses_sample
from reward_training.policy.ppo.update import Gather, local_slice


def heldout_reward(
    loaded: LoadedModel,
    prompts: Sequence[PromptItem],
    reward_fn: RewardFn,
    config: PPOConfig,
    gather: Gather,
    rank: int,
    world: int,
) -> float:
    """Mean Rc on the held-out prompts, sampled with the same seeds at every evaluation (common random numbers)."""
    part = local_slice(len(prompts), rank, world)
    mine = list(prompts[part])
    total = 0.0
    if mine:
        with precision_autocast(config.precision, loaded.device):
            _, ids, texts, _ = responses_sample(
                loaded,
                mine,
                temperature=config.temperature,
                max_new_tokens=config.max_new_tokens,
                seed=(config.seed + 1) * 1_000_000_007 + part.start,
                batch_size=config.generation_batch_size,
            )
        total = float(reward_fn(mine, texts, ids).float().sum())
    return gather.mean(total, len(mine))
