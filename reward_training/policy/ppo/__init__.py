"""Classic PPO with the Llama 2 reward (paper 3.2.3).

    from reward_training.policy.ppo import PPOConfig, ppo_train
    summary = ppo_train(PPOConfig(iterations=200), policy_dir=..., helpfulness_rm_dir=..., safety_rm_dir=...,
                        prompts=items, heldout_prompts=held, output_dir="models/ppo-v5")

ppo_config.py (settings) ↔ trainer.py (the loop); update.py the advantages and gradient steps;
losses.py every formula as a pure function; models.py the policy/critic modules and sequence
layout; rollout.py sampling and the rollout record; heldout.py the held-out reward behind early
stopping; saving.py the output directory; report.py the metrics JSONL and curves PNG;
train.py the command line (`accelerate launch -m reward_training.policy.ppo.train ...`).
"""

from reward_training.policy.ppo.ppo_config import PPOConfig
from reward_training.policy.ppo.rollout import RewardFn, Rollout
from reward_training.policy.ppo.trainer import LogprobMismatch, ppo_train

__all__ = ["LogprobMismatch", "PPOConfig", "RewardFn", "Rollout", "ppo_train"]
