"""Reward-model accuracy (Llama 2, 3.2.2 and Table 8): pairwise accuracy overall, by preference
strength, by safety bin and by source, each with a 95% Wilson interval; calibration (how often
the human-chosen reply wins against the score gap, beside the Bradley-Terry prediction
sigmoid(gap)); and a PNG plot of accuracy by strength written next to the metrics JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from reward_training.data.preferences import SAFETY_BINS, PreferencePair
from reward_training.reward.margins import STRENGTHS

UNRATED = "unrated"
GAP_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, math.inf)
PLOT_NAME = "accuracy_by_strength.png"
NO_SAFETY_BIN = "none"  # a pair with no safety labels (the helpfulness track, imported data)
# What a dashboard job or an iteration records of an evaluation: overall, by strength, by safety bin
SUMMARY_KEYS = ("n", "accuracy", "ci95", "accuracy_by_strength", "by_strength", "by_safety_bin")


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion correct / n."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _cell(correct: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(correct, n)
    return {"n": n, "correct": correct, "accuracy": correct / n if n else None, "ci95": [low, high]}


def _grouped(wins: list[bool], keys: list[str], order: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = {}
    for win, key in zip(wins, keys):
        groups.setdefault(key, []).append(win)
    names = [k for k in order if k in groups] + sorted(k for k in groups if k not in order)
    return {name: _cell(sum(groups[name]), len(groups[name])) for name in names}


def calibration_table(gaps: Sequence[float], edges: Sequence[float] = GAP_EDGES) -> list[dict[str, Any]]:
    """Pairs binned by |r_chosen - r_rejected|: how often the higher-scored reply is the chosen one,
    beside the mean sigmoid(|gap|) that a calibrated Bradley-Terry model would predict."""
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = [g for g in gaps if low <= abs(g) < high]
        agree = sum(1 for g in inside if g > 0)
        predicted = sum(1 / (1 + math.exp(-abs(g))) for g in inside) / len(inside) if inside else None
        rows.append({"gap_low": low, "gap_high": high, **_cell(agree, len(inside)), "predicted": predicted})
    return rows


def accuracy_report(
    chosen_scores: Sequence[float],
    rejected_scores: Sequence[float],
    pairs: Sequence[PreferencePair],
    *,
    dropped_identical: int = 0,
) -> dict[str, Any]:
    """Metrics of one evaluation. A pair counts as correct when r_chosen > r_rejected (ties are wrong).
    `dropped_identical`: pairs left out because both sides were the same after truncation."""
    if not len(chosen_scores) == len(rejected_scores) == len(pairs):
        raise ValueError("scores and pairs differ in number")
    gaps = [float(c) - float(r) for c, r in zip(chosen_scores, rejected_scores)]
    wins = [g > 0 for g in gaps]
    by_strength = _grouped(wins, [p.strength or UNRATED for p in pairs], (*STRENGTHS, UNRATED))
    overall = _cell(sum(wins), len(wins))
    return {
        "n": len(wins),
        "accuracy": overall["accuracy"],
        "ci95": overall["ci95"],
        "dropped_identical": dropped_identical,
        "accuracy_by_strength": {k: v["accuracy"] for k, v in by_strength.items()},
        "by_strength": by_strength,
        "by_safety_bin": _grouped(wins, [p.safety_bin or NO_SAFETY_BIN for p in pairs], (*SAFETY_BINS, NO_SAFETY_BIN)),
        "by_source": _grouped(wins, [p.source for p in pairs]),
        "calibration": calibration_table(gaps),
        "mean_gap": sum(gaps) / len(gaps) if gaps else None,
    }


def accuracy_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a report that is kept beside a job's or an iteration's other figures (SUMMARY_KEYS)."""
    return {key: report[key] for key in SUMMARY_KEYS}


def strength_table(report: dict[str, Any]) -> str:
    """Paper Table 8 layout: one row, accuracy (%) by rating, then the average."""
    cells = report["by_strength"]
    names = [k for k in (*STRENGTHS, UNRATED) if k in cells]
    head = " | ".join(n.replace("_", " ") for n in names) + " | avg"
    row = " | ".join(f"{100 * cells[n]['accuracy']:.1f}" for n in names)
    return f"{head}\n{row} | {100 * (report['accuracy'] or 0):.1f}"


def accuracy_plot(
    report: dict[str, Any], path: str | Path, title: str = "Reward-model accuracy by preference strength"
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["by_strength"]
    names = [k for k in (*STRENGTHS, UNRATED) if k in cells] + ["all"]
    values = [cells[n]["accuracy"] for n in names[:-1]] + [report["accuracy"] or 0.0]
    intervals = [cells[n]["ci95"] for n in names[:-1]] + [report["ci95"]]
    # max(0, …): at 100% the interval's top can round to just under the value (6 of 6: 0.9999999999999999)
    errors = [
        [max(0.0, v - lo) for v, (lo, _) in zip(values, intervals)],
        [max(0.0, hi - v) for v, (_, hi) in zip(values, intervals)],
    ]
    figure, axes = plt.subplots(figsize=(6.5, 3.8))
    axes.bar(
        [n.replace("_", "\n") for n in names],
        [100 * v for v in values],
        yerr=[[100 * e for e in side] for side in errors],
        capsize=4,
        color="#4c72b0",
    )
    axes.axhline(50, color="grey", linestyle="--", linewidth=1)
    axes.set_ylim(0, 100)
    axes.set_ylabel("pairwise accuracy (%)")
    axes.set_title(title, fontsize=10)
    for i, n in enumerate(names):
        count = cells[n]["n"] if n in cells else report["n"]
        axes.text(i, 3, f"n={count}", ha="center", fontsize=8, color="white")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def report_write(report: dict[str, Any], directory: str | Path, *, stem: str = "eval") -> dict[str, str]:
    """Write <stem>_metrics.json and <stem>_accuracy_by_strength.png into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = directory / f"{stem}_metrics.json"
    plot = directory / f"{stem}_{PLOT_NAME}"
    metrics.write_text(json.dumps(report, indent=1))
    accuracy_plot(report, plot)
    return {"metrics": str(metrics), "plot": str(plot)}
