import math

import pytest
import torch

from reward_training.reward.losses import MARGIN_TABLES, margin_of, ranking_loss, safety_auxiliary_loss


def test_margin_tables_are_table_27():
    assert [
        margin_of(s, "small") for s in ("significantly_better", "better", "slightly_better", "negligibly_better")
    ] == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert [
        margin_of(s, "large") for s in ("significantly_better", "better", "slightly_better", "negligibly_better")
    ] == [3, 2, 1, 0]
    assert set(MARGIN_TABLES["none"].values()) == {0.0}
    assert margin_of(None, "large") == 0.0  # unrated
    with pytest.raises(ValueError):
        margin_of("better", "huge")


def test_ranking_loss_matches_hand_computed_values():
    chosen = torch.tensor([2.0, 0.0, 1.0])
    rejected = torch.tensor([1.0, 0.0, 3.0])
    margin = torch.tensor([1.0, 0.0, 0.5])
    # -log sigmoid(x) = log(1 + exp(-x)); x = 0, 0, -2.5
    expected = [math.log(2), math.log(2), math.log(1 + math.exp(2.5))]
    assert ranking_loss(chosen, rejected, margin).tolist() == pytest.approx(expected)
    assert ranking_loss(torch.tensor([3.0]), torch.tensor([1.0])).item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_a_margin_raises_the_loss_of_a_pair_already_ranked_right():
    chosen, rejected = torch.tensor([1.0]), torch.tensor([0.0])
    assert ranking_loss(chosen, rejected, torch.tensor([1.0])) > ranking_loss(chosen, rejected, torch.tensor([0.0]))


def test_safety_auxiliary_loss_is_bce_on_sigmoid_of_the_reward():
    rewards = torch.tensor([0.0, 2.0, 2.0])
    safe = torch.tensor([1.0, 1.0, 0.0])
    expected = [math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))]
    assert safety_auxiliary_loss(rewards, safe).tolist() == pytest.approx(expected)
    # Its gradient pushes safe responses up and unsafe ones down.
    r = torch.zeros(2, requires_grad=True)
    safety_auxiliary_loss(r, torch.tensor([1.0, 0.0])).sum().backward()
    assert r.grad[0] < 0 < r.grad[1]
