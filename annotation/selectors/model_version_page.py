"""What the dashboard's model-version page shows: lineage, training curves, reward-model accuracy, win rates."""

from __future__ import annotations

import json
from pathlib import Path

from annotation.models import Job, ModelVersion
from annotation.selectors.jobs import rm_accuracy_rows

# The logged metrics drawn as training curves, in this order, where the run logged them
CURVE_TAGS = ("loss", "accuracy", "reward", "kl", "heldout_reward", "finished_with_eos", "lr", "tokens_per_second")
WIN_RATE_KINDS = (("all", ""), ("safety", "_safety"), ("helpfulness", "_helpfulness"))


def _manifest_counts(path: str | None) -> dict:
    """The data manifest's pair counts by source and by track (the reward trainer writes it)."""
    if not path or not Path(path).is_file():
        return {}
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return {key: manifest[key] for key in ("by_source", "by_track") if isinstance(manifest.get(key), dict)}


def model_version_lineage(*, version: ModelVersion) -> dict:
    """Ancestors (nearest first), children, the reward models and batches it was made with, data counts."""
    ancestors, parent = [], version.parent
    while parent is not None:
        ancestors.append(parent)
        parent = parent.parent
    lineage = version.lineage or {}
    rm_names = [lineage[k] for k in ("helpfulness_rm", "safety_rm") if lineage.get(k)]
    return {
        "ancestors": ancestors,
        "children": list(version.children.order_by("created_at")),
        "sampled_in_batches": list(version.batches.order_by("created_at")),  # batches whose pairs it sampled
        "reward_models": [ModelVersion.objects.filter(name=n).first() or n for n in rm_names],
        "batches": lineage.get("batches") or [],
        "data_files": lineage.get("data_files") or [],
        "data_counts": _manifest_counts(lineage.get("data_manifest")),
        "method": lineage.get("method") or ("reward-model training" if version.kind == "reward" else ""),
    }


def model_version_curves(*, version: ModelVersion) -> dict[str, list[tuple[int, float]]]:
    """The logged scalars of its training run (CURVE_TAGS that are there), from the recorded TensorBoard folder."""
    from reward_training.tracking import scalars_read

    log_dir = ((version.metrics or {}).get("tracking") or {}).get("log_dir")
    scalars = scalars_read(log_dir) if log_dir else {}
    return {tag: scalars[tag] for tag in CURVE_TAGS if tag in scalars}


def model_version_rm_accuracy(*, version: ModelVersion) -> list[dict]:
    """A reward model's measured accuracy, by strength and by safety bin: one row per RM-accuracy job (newest
    first) and per reward-model training that measured it before retraining."""
    if version.kind != ModelVersion.Kind.REWARD:
        return []
    rows = []
    jobs = Job.objects.filter(
        status=Job.Status.SUCCEEDED, kind__in=[Job.Kind.RM_ACCURACY, Job.Kind.TRAIN_REWARD_MODELS]
    )
    for job in jobs.select_related("batch").order_by("-finished_at"):
        part = "accuracy_before_retraining" if job.kind == Job.Kind.TRAIN_REWARD_MODELS else None
        for row in rm_accuracy_rows(job=job, part=part):
            if row["model"] == version.name:
                rows.append({**row, "job": job, "batch": job.batch.name})
    return rows


def model_version_win_rates(*, version: ModelVersion) -> list[dict]:
    """Its win rate against its parent on held-out prompts (all, safety, helpfulness), from the refresh
    jobs that produced it: [{"judge", "job", "parent", "cells": [(kind, rate, ci95), ...]}]."""
    rows = []
    for job in Job.objects.filter(kind=Job.Kind.REFRESH_POLICY, status=Job.Status.SUCCEEDED).order_by("-finished_at"):
        result = job.result or {}
        if result.get("policy") != version.name:
            continue
        for judge, cells in _judged_cells(result).items():
            rows.append({"judge": judge, "job": job, "parent": result.get("parent"), "cells": cells})
    return rows


def _judged_cells(fields: dict) -> dict[str, list[tuple]]:
    """From flat win-rate fields (policy_eval.win_rate_fields): {judge: [(kind, rate, ci95), ...]} in
    WIN_RATE_KINDS order, for each judge with at least one figure."""
    judged = {}
    for judge in ("rm", "oracle"):
        cells = [
            (kind, fields.get(f"{judge}_win_rate{suffix}"), fields.get(f"{judge}_win_rate{suffix}_ci95"))
            for kind, suffix in WIN_RATE_KINDS
        ]
        if any(rate is not None for _, rate, _ in cells):
            judged[judge] = cells
    return judged


def model_version_files(*, version: ModelVersion) -> list[tuple[str, int]]:
    """The checkpoint directory's files (relative path, bytes), sorted; [] when the folder is gone."""
    root = Path(version.path)
    if not root.is_dir():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def policy_win_rate_curve() -> list[dict]:
    """The win rate of each policy version over its parent on held-out prompts, oldest version first (the
    paper's Fig. 11 across RLHF versions), from what promotion recorded on each version
    (services.promotion.policy_win_rates_record): [{"policy", "parent", "prompts", "promoted",
    "judges": {judge: {kind: (rate, ci95)}}}], kinds in WIN_RATE_KINDS order; judges without figures left out."""
    points = []
    versions = ModelVersion.objects.filter(kind="policy", metrics__has_key="heldout_win_rates").order_by("created_at")
    for version in versions:
        record = version.metrics["heldout_win_rates"]
        judges = {
            judge: {kind: (rate, ci95) for kind, rate, ci95 in cells} for judge, cells in _judged_cells(record).items()
        }
        if judges:
            points.append(
                {
                    "policy": version.name,
                    "parent": record.get("parent"),
                    "prompts": record.get("prompts"),
                    "promoted": record.get("promoted"),
                    "judges": judges,
                }
            )
    return points
