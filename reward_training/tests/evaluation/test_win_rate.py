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


def test_win_rates_come_over_all_safety_and_helpfulness_prompts():
    from reward_training.evaluation.policy_eval import paired_win_rates, win_rate_fields

    # given 5 prompts, the first two safety prompts: new wins both, and wins 1 of the 3 helpfulness ones
    new, old = [0.9, 0.8, 0.1, 0.2, 0.7], [0.1, 0.2, 0.5, 0.6, 0.3]
    rates = paired_win_rates(new, old, [True, True, False, False, False])
    assert (rates["all"].rate, rates["all"].n) == (pytest.approx(3 / 5), 5)
    assert (rates["safety"].rate, rates["safety"].n) == (1.0, 2)
    assert (rates["helpfulness"].rate, rates["helpfulness"].n) == (pytest.approx(1 / 3), 3)
    fields = win_rate_fields({"rm": rates, "oracle": paired_win_rates(new, old, [False] * 5)})
    assert fields["rm_win_rate_safety"] == 1.0 and fields["rm_win_rate_safety_ci95"][0] > 0.3
    assert fields["oracle_win_rate_safety"] is None and fields["oracle_win_rate_safety_ci95"] is None
    assert fields["oracle_win_rate_helpfulness"] == fields["oracle_win_rate"] == pytest.approx(3 / 5)
    assert set(fields) == {
        f"{judge}_win_rate{kind}{ci}"
        for judge in ("rm", "oracle")
        for kind in ("", "_safety", "_helpfulness")
        for ci in ("", "_ci95")
    }
