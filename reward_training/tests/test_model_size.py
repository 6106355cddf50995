"""Settings by model size (paper 3.2.2 and 3.2.3): β and the reward model's peak learning rate come
from the parameter count unless set."""

import pytest
from transformers import AutoModel

from reward_training.model_size import parameter_count, parameter_count_from_config
from reward_training.policy.ppo import PPOConfig
from reward_training.reward.reward_config import RewardConfig


def test_the_count_from_config_alone_is_the_loaded_models(tiny_policy_dir):
    loaded = AutoModel.from_pretrained(tiny_policy_dir)
    assert parameter_count_from_config(tiny_policy_dir) == parameter_count(loaded) > 10_000


def test_a_tiny_model_gets_the_small_model_values(tiny_policy_dir):
    n = parameter_count_from_config(tiny_policy_dir)
    beta = PPOConfig().beta_choose(n)
    lr = RewardConfig(base_model="m", output_dir="o").learning_rate_choose(n)
    assert (beta["value"], lr["value"]) == (0.01, 1e-5)
    assert beta["parameters"] == n and "under 30B" in beta["reason"] and "under 60B" in lr["reason"]


@pytest.mark.parametrize(
    "n, beta, lr",
    [(6.7e9, 0.01, 1e-5), (30e9, 0.005, 1e-5), (34e9, 0.005, 1e-5), (60e9, 0.005, 5e-6), (70e9, 0.005, 5e-6)],
)
def test_the_paper_values_by_size(n, beta, lr):
    assert PPOConfig().beta_choose(int(n))["value"] == beta
    assert RewardConfig(base_model="m", output_dir="o").learning_rate_choose(int(n))["value"] == lr


def test_an_explicit_value_wins_over_the_size():
    beta = PPOConfig(beta=0.02).beta_choose(int(70e9))
    lr = RewardConfig(base_model="m", output_dir="o", learning_rate=3e-3).learning_rate_choose(int(70e9))
    assert (beta["value"], lr["value"]) == (0.02, 3e-3)
    assert "set explicitly" in beta["reason"] and "set explicitly" in lr["reason"]
