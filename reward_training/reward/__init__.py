"""Reward models (Llama 2, section 3.2.2): model, losses, trainer, scoring.

Public entry points:
- reward_training.reward.api.train_reward_model(config, data_files, data_format, eval_file=None, progress=True)
- reward_training.reward.api.evaluate_reward_model(model_dir, data_file, data_format)
- reward_training.reward.reward_config.RewardConfig (paired with reward_trainer.py)
- reward_training.reward.scorer.RewardScorer(model_dir).score(prompts, responses) -> (N,) tensor
- python -m reward_training.reward.train ...  (also under `accelerate launch -m`)
"""
