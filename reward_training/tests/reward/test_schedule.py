import pytest
import torch
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from reward_training.reward.schedule import lr_factor, warmup_steps


def test_warmup_is_3_percent_at_least_5_at_most_10_percent():
    assert warmup_steps(1000) == 30
    assert warmup_steps(100) == 5
    assert warmup_steps(32) == 3  # 10% of 32 caps the minimum of 5
    assert warmup_steps(1) == 1


def test_warm_up_starts_at_lr_0_and_no_warm_up_starts_at_the_peak():
    assert [lr_factor(step, warmup=4, total=100) for step in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert lr_factor(0, warmup=0, total=100) == 1.0
    assert lr_factor(0, warmup=0, total=100, floor=0.0, schedule="constant") == 1.0


def test_constant_schedule_holds_the_peak_after_warm_up():
    assert [lr_factor(step, warmup=2, total=10, schedule="constant") for step in (0, 1, 2, 9, 10)] == [
        0.0,
        0.5,
        1.0,
        1.0,
        1.0,
    ]
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(3, warmup=2, total=10, schedule="linear")


def test_cosine_decays_to_a_tenth_of_the_peak():
    assert lr_factor(0, warmup=5, total=100) == 0.0
    assert lr_factor(5, warmup=5, total=100) == pytest.approx(1.0)
    assert lr_factor(100, warmup=5, total=100) == pytest.approx(0.1)
    assert lr_factor(52, warmup=5, total=100) == pytest.approx(0.55, abs=0.02)


def test_schedule_equals_the_transformers_curve_a_peer_trainer_is_given():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    peer = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=3, num_training_steps=32, min_lr_rate=0.1
    )
    for step in range(32):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(lr_factor(step, warmup=3, total=32))
        optimizer.step()
        peer.step()
