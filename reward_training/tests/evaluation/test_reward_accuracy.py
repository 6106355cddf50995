import json

import pytest

from reward_training.data.preferences import PreferencePair
from reward_training.evaluation.reward_accuracy import (
    accuracy_report,
    accuracy_summary,
    calibration_table,
    report_write,
    strength_table,
    wilson_interval,
)


def _pair(strength=None, safety_bin=None, source="platform"):
    return PreferencePair(
        prompt=({"role": "user", "content": "q"},),
        chosen="a",
        rejected="b",
        strength=strength,
        safety_bin=safety_bin,
        source=source,
    )


def test_wilson_interval_of_known_values():
    low, high = wilson_interval(50, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_report_groups_by_strength_in_table_8_order_by_safety_bin_and_source():
    pairs = [
        _pair("better", "both_safe"),
        _pair("better", "both_unsafe", "hh"),
        _pair("significantly_better"),
        _pair(None, source="hh"),
    ]
    report = accuracy_report([1.0, 0.0, 2.0, 0.5], [0.0, 1.0, 1.0, 0.5], pairs, dropped_identical=2)
    assert report["n"] == 4 and report["accuracy"] == 0.5  # a tie counts as wrong
    assert list(report["accuracy_by_strength"]) == ["significantly_better", "better", "unrated"]
    assert report["accuracy_by_strength"] == {"significantly_better": 1.0, "better": 0.5, "unrated": 0.0}
    assert report["by_safety_bin"]["both_safe"]["accuracy"] == 1.0 and report["by_safety_bin"]["none"]["n"] == 2
    assert report["by_source"]["hh"] == {"n": 2, "correct": 0, "accuracy": 0.0, "ci95": list(wilson_interval(0, 2))}
    assert report["dropped_identical"] == 2
    assert "significantly better | better | unrated | avg" in strength_table(report)


def test_the_summary_keeps_accuracy_by_strength_and_by_safety_bin_in_the_papers_order():
    pairs = [
        _pair("better", "both_unsafe"),
        _pair("better"),
        _pair("slightly_better", "chosen_safe_other_unsafe"),
        _pair("better", "both_safe"),
    ]
    summary = accuracy_summary(accuracy_report([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], pairs))
    assert set(summary) == {"n", "accuracy", "ci95", "accuracy_by_strength", "by_strength", "by_safety_bin"}
    assert summary["n"] == 4 and summary["accuracy"] == 0.5
    # the safety bins in the paper's order (3.2.1), then the pairs without safety labels
    assert list(summary["by_safety_bin"]) == ["chosen_safe_other_unsafe", "both_safe", "both_unsafe", "none"]
    assert {k: v["accuracy"] for k, v in summary["by_safety_bin"].items()} == {
        "chosen_safe_other_unsafe": 1.0,
        "both_safe": 0.0,
        "both_unsafe": 1.0,
        "none": 0.0,
    }
    assert summary["accuracy_by_strength"] == {"better": pytest.approx(1 / 3), "slightly_better": 1.0}


def test_calibration_bins_the_gap_and_gives_the_chosen_win_rate():
    rows = calibration_table([0.1, -0.1, 0.2, 3.0, 3.5, -3.2])
    small, large = rows[0], rows[4]
    assert (small["n"], small["correct"]) == (3, 2)
    assert (large["n"], large["correct"]) == (3, 2) and large["predicted"] > 0.95


def test_metrics_json_and_png_are_written_side_by_side(tmp_path):
    report = accuracy_report([1.0, 0.0], [0.0, 1.0], [_pair("better"), _pair("slightly_better")])
    files = report_write(report, tmp_path)
    assert json.loads(open(files["metrics"]).read())["n"] == 2
    with open(files["plot"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_perfect_score_still_plots(tmp_path):
    """6 of 6 right: the interval's top rounds just under 100%, which once made a negative error bar."""
    report = accuracy_report([1.0] * 6, [0.0] * 6, [_pair("better")] * 6)
    assert report["accuracy"] == 1.0
    files = report_write(report, tmp_path)
    with open(files["plot"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
