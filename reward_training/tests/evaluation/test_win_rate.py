import pytest

from reward_training.evaluation.win_rate import outcome, promotion_passes, win_rate


def test_ties_count_half_and_interval_by_hand():
    result = win_rate([1.0] * 6 + [0.5] * 2 + [0.0] * 2)
    assert (result.wins, result.ties, result.losses, result.n) == (6, 2, 2, 10)
    assert result.rate == pytest.approx(0.7)
    # Wilson interval for p = 0.7, n = 10, z = 1.96
    assert result.low == pytest.approx(0.3968, abs=1e-3) and result.high == pytest.approx(0.8922, abs=1e-3)


def test_outcome_and_gate():
    assert [outcome(2, 1), outcome(1, 2), outcome(1, 1 + 1e-9)] == [1.0, 0.0, 0.5]
    assert promotion_passes(win_rate([1.0, 1.0, 0.0]), threshold=0.5)
    assert not promotion_passes(win_rate([1.0, 0.0]), threshold=0.5)  # 50% is not above 50%
    with pytest.raises(ValueError):
        win_rate([])
