"""The public entry points that the management commands wrap (docs/architecture.md):
`train_reward_model` and `evaluate_reward_model`. Both return JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reward_training.data.mixtures import mixture_build
from reward_training.data.preferences import PreferencePair, preferences_read
from reward_training.evaluation.reward_accuracy import accuracy_report, report_write
from reward_training.evaluation.rewardbench import benchmark_evaluate
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.reward_trainer import reward_train
from reward_training.reward.scorer import RewardScorer


def pairs_load(
    data_files: list[str], data_format: str, *, source: str | None = None, track: str | None = None
) -> list[PreferencePair]:
    """All pairs of the files; `source` / `track` fill in what a file does not say (HH files)."""
    pairs: list[PreferencePair] = []
    for path in data_files:
        pairs.extend(preferences_read(path, data_format, source=source, track=track))
    return pairs


def train_reward_model(
    config: RewardConfig,
    data_files: list[str],
    data_format: str,
    eval_file: str | None = None,
    progress: bool = True,
    *,
    source: str | None = None,
    track: str | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Read the data, build the configured mixture, train, evaluate on `eval_file` if given.

    The result has accuracy, accuracy_by_strength (None without eval_file), pairs_per_second,
    output_dir, n_train_pairs, dropped_identical, data_files, and more (see reward_train).
    The pairs drawn are recorded in <output_dir>/data_manifest.json. `source` / `track` label
    pairs whose file does not say (HH-RLHF files: e.g. track="safety" for Anthropic Harmless).
    `on_step(step, total_steps)` follows the training (see reward_train).
    """
    if not data_files:
        raise ValueError("no data files given")
    pairs = pairs_load(data_files, data_format, source=source, track=track)
    mixture = mixture_build(
        pairs,
        config.mixture,
        helpfulness_extra_ratio=config.helpfulness_extra_ratio,
        safety_helpfulness_fraction=config.safety_helpfulness_fraction,
        seed=config.seed,
    )
    manifest = {
        **mixture.manifest,
        "data_files": [str(Path(p).resolve()) for p in data_files],
        "data_format": data_format,
    }
    eval_pairs = preferences_read(eval_file, data_format, source=source, track=track) if eval_file else None
    if eval_file:
        manifest["eval_file"] = str(Path(eval_file).resolve())
    result = reward_train(
        config, mixture.pairs, eval_pairs=eval_pairs, manifest=manifest, progress=progress, on_step=on_step
    )
    return {**result, "data_files": list(data_files), "mixture": config.mixture}


def evaluate_reward_model(
    model_dir: str, data_file: str, data_format: str, *, write_report: bool = True, progress: bool = False
) -> dict[str, Any]:
    """Pairwise accuracy of a trained reward model on one file: {"n", "accuracy", "accuracy_by_strength", ...}.

    With write_report, eval_metrics.json and the accuracy-by-strength PNG go next to the model as
    eval-<file stem>_metrics.json / .png.
    """
    pairs = preferences_read(data_file, data_format)
    scorer = RewardScorer(model_dir)
    chosen, rejected, dropped = scorer.score_pairs(pairs, progress=progress)
    dropped_set = set(dropped)
    kept = [p for i, p in enumerate(pairs) if i not in dropped_set]
    report = accuracy_report(chosen, rejected, kept, dropped_identical=len(dropped))
    if write_report:
        stem = "eval-" + Path(data_file).name.split(".")[0]
        report["files"] = report_write(report, model_dir, stem=stem)
    return report


def evaluate_reward_benchmark(model_dir: str, data_file: str, bench_format: str) -> dict[str, Any]:
    """A reward model on a RewardBench ("rewardbench") or RewardBench 2 ("rewardbench2") file: accuracy by
    subset and section, the benchmark's score, and the chat template the model read the dialogues with."""
    scorer = RewardScorer(model_dir)

    def score(prompts, responses):
        return scorer.score(prompts, responses).tolist()

    report = benchmark_evaluate(data_file, bench_format, score)
    return {**report, "model": str(model_dir), "chat_template": scorer.chat_template_used()}
