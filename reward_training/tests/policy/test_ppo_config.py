import pytest

from reward_training.config import config_build
from reward_training.policy.ppo import PPOConfig


def test_defaults_are_the_papers():
    c = PPOConfig()
    assert (c.adam_beta1, c.adam_beta2, c.adam_eps, c.weight_decay) == (0.9, 0.95, 1e-5, 0.1)
    assert (c.learning_rate, c.max_grad_norm, c.clip_range) == (1e-6, 1.0, 0.2)
    assert c.beta is None  # derived from the policy's size: 0.01, or 0.005 from 30B on (test_model_size.py)
    assert (c.batch_size, c.minibatch_size, c.ppo_epochs, c.steps_per_iteration) == (512, 64, 1, 8)
    assert c.critic == "value_head" and c.value_clip_range == 0.2
    assert c.missing_eos_penalty == 1.0  # on by default, as TRL's missing_eos_penalty
    assert c.logprob_tolerance == 1e-4


def test_the_log_prob_tolerance_follows_the_precision_unless_set():
    assert PPOConfig(precision="bf16").logprob_tolerance == 0.1  # bf16 rounding (ppo_config.LOGPROB_TOLERANCE)
    assert PPOConfig(precision="bf16", logprob_tolerance=0.01).logprob_tolerance == 0.01


@pytest.mark.parametrize(
    "overrides",
    [
        {"batch_size": 100, "minibatch_size": 64},
        {"minibatch_size": 64, "micro_batch_size": 12},
        {"critic": "policy"},
        {"kl_estimator": "k2"},
        {"temperature": 0.0},
        {"missing_eos_penalty": -1.0},
    ],
)
def test_cross_field_rules(overrides):
    with pytest.raises(ValueError):
        PPOConfig(**overrides)


def test_config_build_precedence_and_unknown_keys(tmp_path):
    file = tmp_path / "ppo.json"
    file.write_text('{"beta": 0.005, "iterations": 400}')
    c = config_build(PPOConfig, file=file, iterations=300, lam=None)
    assert (c.beta, c.iterations, c.lam) == (0.005, 300, 0.95)
    with pytest.raises(ValueError, match="kl_coef"):
        config_build(PPOConfig, kl_coef=0.1)
