"""The PPO formulas against hand-computed values (whiten and logit: test_rewards.py)."""

import math

import pytest
import torch
from accelerate import Accelerator

from reward_training.policy.ppo import PPOConfig, Rollout
from reward_training.policy.ppo.losses import (
    early_stop,
    entropy_from_logits,
    gae,
    kl_per_token,
    masked_mean,
    masked_whiten,
    missing_eos_penalize,
    policy_loss_clipped,
    token_rewards,
    value_loss_clipped,
)
from reward_training.policy.ppo.update import Gather, advantages_compute
from reward_training.policy.rewards import logit, whiten


def test_masked_mean_and_whiten_ignore_padding():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert masked_mean(x, mask).item() == pytest.approx(2.0)
    assert masked_whiten(x, mask).tolist()[0] == pytest.approx([-1.2247449, 0.0, 1.2247449, 0.0], abs=1e-5)


def test_score_is_whitened_logit_of_rc():
    rc = torch.tensor([0.5, 0.25, 0.75])
    # logit: [0, -ln 3, ln 3]; population std ln3·sqrt(2/3)
    expected = [0.0, -math.sqrt(1.5), math.sqrt(1.5)]
    assert whiten(logit(rc)).tolist() == pytest.approx(expected, abs=1e-5)


def test_kl_estimators_by_hand():
    logprobs, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -1.0]])
    assert kl_per_token(logprobs, ref, "k1").tolist()[0] == pytest.approx([0.5, -1.0])
    # k3 = e^{-d} - 1 + d with d = log π - log π0
    assert kl_per_token(logprobs, ref, "k3").tolist()[0] == pytest.approx([math.exp(-0.5) - 0.5, math.e - 2.0])
    assert kl_per_token(ref, ref, "k3").abs().max().item() == 0.0
    with pytest.raises(ValueError):
        kl_per_token(logprobs, ref, "k2")


def test_token_rewards_penalise_kl_and_put_the_score_on_the_final_token():
    score = torch.tensor([2.0, -1.0])
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.5, -0.5, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    rewards = token_rewards(score, kl, mask, beta=0.1)
    assert rewards.tolist()[0] == pytest.approx([-0.01, -0.02, 1.97])
    assert rewards.tolist()[1] == pytest.approx([-0.05, 0.05 - 1.0, 0.0])


def test_gae_by_hand():
    rewards, values = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]])
    advantages, returns = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=0.5)
    # δ2 = 1 - 0.7 = 0.3; δ1 = 0.7 - 0.6 = 0.1, A1 = 0.1 + 0.5·0.3; δ0 = 0.1, A0 = 0.1 + 0.5·0.25
    assert advantages.tolist()[0] == pytest.approx([0.225, 0.25, 0.3])
    assert returns.tolist()[0] == pytest.approx([0.725, 0.85, 1.0])


def test_gae_treats_the_final_token_as_terminal_and_zeroes_padding():
    rewards, values = torch.tensor([[0.0, 2.0, 9.0]]), torch.tensor([[1.0, 1.0, 5.0]])
    advantages, returns = gae(rewards, values, torch.tensor([[1, 1, 0]]), gamma=0.9, lam=1.0)
    # δ1 = 2 + 0.9·0 - 1 = 1; δ0 = 0 + 0.9·1 - 1 = -0.1, A0 = -0.1 + 0.9·1
    assert advantages.tolist()[0] == pytest.approx([0.8, 1.0, 0.0])
    assert returns.tolist()[0] == pytest.approx([1.8, 2.0, 0.0])


def test_policy_loss_clips_the_ratio_by_hand():
    ratio = torch.tensor([[1.5, 0.5, 1.0, 1.5, 9.0]])
    advantages = torch.tensor([[1.0, 1.0, -2.0, -1.0, 5.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    loss, clip_fraction = policy_loss_clipped(ratio.log(), torch.zeros(1, 5), advantages, mask, clip=0.2)
    # per token max(-Aρ, -A·clip(ρ)): [-1.2 (clipped), -0.5, 2, 1.5]; the fifth is padding
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.0 + 1.5) / 4)
    assert clip_fraction.item() == pytest.approx(0.25)


def test_policy_loss_gradient_vanishes_where_clipped():
    logprobs = torch.tensor([[math.log(1.5), math.log(1.1)]], requires_grad=True)
    loss, _ = policy_loss_clipped(logprobs, torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2), clip=0.2)
    loss.backward()
    assert logprobs.grad.tolist()[0] == pytest.approx([0.0, -1.1 / 2])


def test_value_loss_clipping_by_hand():
    values = torch.tensor([[1.0, 0.0, 2.0]])
    old = torch.tensor([[0.5, 0.5, 2.0]])
    returns = torch.tensor([[2.0, 1.0, 3.0]])
    mask = torch.ones(1, 3)
    loss, fraction = value_loss_clipped(values, old, returns, mask, clip=0.2)
    # t0: (1-2)²=1 vs (0.7-2)²=1.69; t1: 1 vs (0.3-1)²=0.49; t2: 1 vs 1
    assert loss.item() == pytest.approx(0.5 * (1.69 + 1.0 + 1.0) / 3)
    assert fraction.item() == pytest.approx(1 / 3)
    plain, _ = value_loss_clipped(values, old, returns, mask, clip=None)
    assert plain.item() == pytest.approx(0.5)


def test_entropy_by_hand():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e9, -1e9]]])
    expected = [math.log(4.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    assert entropy_from_logits(logits).tolist()[0] == pytest.approx(expected, abs=1e-5)


def test_early_stop_waits_patience_evaluations_after_the_best():
    assert early_stop([0.1, 0.3, 0.2, 0.25], patience=2)
    assert not early_stop([0.1, 0.3, 0.2, 0.25], patience=3)
    assert not early_stop([0.1, 0.3, 0.3], patience=2)  # a tie is not an improvement, but only one since
    assert not early_stop([0.5, 0.1, 0.1, 0.1], patience=0)  # 0: never


def test_missing_eos_penalty_comes_off_the_score_of_cut_off_responses_only():
    score = torch.tensor([0.5, 0.5, -1.0])
    finished = torch.tensor([True, False, False])
    assert missing_eos_penalize(score, finished, 1.0).tolist() == pytest.approx([0.5, -0.5, -2.0])
    assert missing_eos_penalize(score, finished, 0.0).tolist() == pytest.approx(score.tolist())


def test_a_cut_off_rollout_gets_the_penalty_on_its_final_token():
    # given two rollouts with the same Rc and no KL, one ended with EOS and one cut off ...
    n, t = 2, 3
    zeros = torch.zeros(n, t)
    rollout = Rollout(
        prompts=[None, None],
        texts=["a", "b"],
        prompt_ids=[[1], [1]],
        response_ids=[[5, 6, 2], [5, 6, 7]],
        finished=torch.tensor([True, False]),
        rc=torch.tensor([0.6, 0.6]),
        logprobs=zeros.clone(),
        ref_logprobs=zeros.clone(),
        values=zeros.clone(),
        entropy=zeros.clone(),
        mask=torch.ones(n, t),
    )
    config = PPOConfig(batch_size=2, minibatch_size=2, micro_batch_size=2, whiten_advantages=False, beta=0.01)
    # ... when the per-token rewards are computed ...
    advantages_compute(rollout, config, Gather(Accelerator(cpu=True)), rank=0)
    # ... then only the cut-off one loses missing_eos_penalty (1.0 by default), on its final token
    assert config.missing_eos_penalty == 1.0
    assert rollout.rewards[:, -1].tolist() == pytest.approx([0.0, -1.0])
    assert rollout.rewards[:, :-1].abs().max().item() == 0.0
