import pytest
import torch

from reward_training.policy.rewards import (
    best_of_k_select,
    combined_reward,
    logit,
    reward_vs_k,
    truncated_share,
    whiten,
)


def test_combined_reward_uses_safety_for_safety_prompts_and_unsafe_responses():
    rs = torch.tensor([0.9, 0.10, 0.9, 0.15])
    rh = torch.tensor([0.2, 0.80, 0.7, 0.30])
    safety_prompt = torch.tensor([True, False, False, False])
    # safety prompt -> Rs; Rs < 0.15 -> Rs; otherwise Rh; exactly 0.15 is not below the threshold
    assert combined_reward(rs, rh, safety_prompt).tolist() == pytest.approx([0.9, 0.10, 0.7, 0.30])


def test_logit_inverts_sigmoid_and_whiten_normalises():
    p = torch.tensor([0.5, 0.25, 0.75])
    assert logit(p).tolist() == pytest.approx([0.0, -1.0986123, 1.0986123], abs=1e-6)
    assert torch.sigmoid(logit(torch.tensor([0.3]))).item() == pytest.approx(0.3)
    w = whiten(torch.tensor([1.0, 2.0, 3.0]))
    assert w.tolist() == pytest.approx([-1.2247449, 0.0, 1.2247449], abs=1e-5)


def test_best_of_k_picks_the_highest_first_on_ties():
    rewards = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.5, 0.2]])
    assert best_of_k_select(rewards).tolist() == [1, 0]


def test_reward_vs_k_by_hand():
    rewards = torch.tensor([[0.2, 0.8, 0.5], [0.6, 0.1, 0.9]])
    curve = reward_vs_k(rewards)
    assert curve["k"] == [1, 2, 3]
    # max of the first k, averaged over the two prompts
    assert curve["max"] == pytest.approx([(0.2 + 0.6) / 2, (0.8 + 0.6) / 2, (0.8 + 0.9) / 2])
    # torch's median of an even count is the lower middle value
    assert curve["median"] == pytest.approx([(0.2 + 0.6) / 2, (0.2 + 0.1) / 2, (0.5 + 0.6) / 2])


def test_best_of_k_keeps_a_finished_sample_over_a_higher_rewarded_truncated_one():
    rewards = torch.tensor([[0.9, 0.4, 0.6], [0.9, 0.2, 0.7], [0.1, 0.8, 0.3]])
    finished = torch.tensor([[False, True, True], [False, False, False], [True, False, True]])
    # row 0: the best finished sample; row 1: none finished, so the best of all; row 2: 0.8 is cut off
    assert best_of_k_select(rewards, finished).tolist() == [2, 0, 2]
    assert best_of_k_select(rewards).tolist() == [0, 0, 1]  # without flags: the plain argmax


def test_truncated_share():
    assert truncated_share(torch.tensor([[True, False], [False, False]])) == pytest.approx(0.75)
    assert truncated_share([True, True]) == 0.0 and truncated_share([]) == 0.0
