"""The work of each dashboard job kind, run by annotation.services.jobs.job_execute: retraining both reward
models, refreshing the policy (rejection sampling, then the promotion gate), measuring the reward models'
accuracy. Each returns (result, the model versions it registered) and reports progress as it goes.
A rerun after a worker died reuses its pinned plan, its exported files and its checkpoints.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError

from annotation.models import Batch, ImportedPair, Job, ModelVersion, Track
from annotation.selectors.exports import PLATFORM, preference_export_rows
from annotation.selectors.model_versions import model_version_current
from annotation.services.job_runtime import (
    JobReporter,
    job_plan_pinned,
    job_rows_write,
    job_training_settings,
    job_workdir,
)


def _current_rms() -> dict[str, ModelVersion]:
    return {track: model_version_current(kind="reward", track=track) for track in Track.values}


def _train_reward_models(job: Job, report: JobReporter) -> tuple[dict, list[ModelVersion]]:
    """Both RMs on everything up to this batch (every batch created before it, and imported data), after
    the current RMs' accuracy on this batch (what the new ones are retrained to improve on)."""
    from annotation.services.training import reward_models_train

    plan = job_plan_pinned(
        job,
        lambda: {
            "batches": list(
                Batch.objects.filter(created_at__lte=job.batch.created_at)
                .order_by("created_at")
                .values_list("name", flat=True)
            ),
            "sources": [PLATFORM, *ImportedPair.objects.order_by().values_list("source", flat=True).distinct()],
            "base": settings.RM_BASE_MODEL or model_version_current(kind="policy").path,
            "reward_models_before": {track: v.name for track, v in _current_rms().items() if v is not None},
        },
    )
    workdir = job_workdir(job)
    report(0.0, "exporting")
    pairs = job_rows_write(
        workdir / "preferences.jsonl", preference_export_rows(batches=plan["batches"], sources=plan["sources"])
    )
    if not pairs:
        raise ValidationError({"batch": ["nothing exports from the batches up to this one (see their export policy)"]})
    before = _accuracy_before_retraining(job, plan.get("reward_models_before") or {}, report)
    rms = reward_models_train(
        data=workdir / "preferences.jsonl",
        base=plan["base"],
        workdir=workdir,
        suffix=f"{job.batch.name}-job{job.pk}",
        batches=plan["batches"],
        training=job_training_settings(),
        current=False,
        on_progress=report,
    )
    result = {
        "pairs": pairs,
        **plan,
        "reward_models": {track: v.name for track, v in rms.items()},
        "metrics": {track: v.metrics for track, v in rms.items()},
        "accuracy_before_retraining": before,
    }
    return result, list(rms.values())


def _accuracy_before_retraining(job: Job, names: dict[str, str], report: JobReporter) -> dict | None:
    """The given (then current) RMs' accuracy on the job's batch, as the RM-accuracy job records it;
    None when there were no current RMs or the batch exports nothing of its own."""
    from annotation.services.training import reward_models_accuracy

    data = job_workdir(job) / "batch.jsonl"
    pairs = job_rows_write(data, preference_export_rows(batches=[job.batch.name]))
    if not names or not pairs:
        return None
    rms = {track: ModelVersion.objects.get(name=name) for track, name in names.items()}
    return {
        "pairs": pairs,
        **reward_models_accuracy(
            rms=rms, data=data, on_progress=lambda fraction, stage: report(0.0, f"before retraining: {stage}")
        ),
    }


def _batch_prompts(batch: Batch) -> list:
    """The batch's prompts (each with its dialogue history), once each."""
    from reward_training.data.prompts import PromptItem

    seen, items = set(), []
    for row in preference_export_rows(batches=[batch.name]):
        key = json.dumps(row["prompt"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            items.append(PromptItem(messages=row["prompt"], safety=row["track"] == "safety"))
    return items


def _report_judges() -> dict:
    """Judges the refresh job reports beside the reward models (never the gate's): the simulation's oracle,
    where settings.REFRESH_ORACLE_WIN_RATE says simulated annotators made the comparisons; else none."""
    if not settings.REFRESH_ORACLE_WIN_RATE:
        return {}
    from annotation.simulation.oracle import oracle_score

    return {"oracle": oracle_score}


def _refresh_policy(job: Job, report: JobReporter) -> tuple[dict, list[ModelVersion]]:
    """Rejection sampling from the current policy with the current RMs on this batch's prompts, then the
    promotion gate on held-out prompts: the new policy becomes current only if the RMs prefer it over
    the policy it started from, and only if that one is still current."""
    from annotation.services.promotion import policy_compare, policy_promote, policy_win_rates_record
    from annotation.services.training import policy_refresh
    from reward_training.evaluation.policy_eval import win_rate_fields
    from reward_training.evaluation.win_rate import promotion_passes
    from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig

    plan = job_plan_pinned(
        job,
        lambda: {
            "policy": model_version_current(kind="policy").name,
            "reward_models": {track: v.name for track, v in _current_rms().items()},
        },
    )
    policy = ModelVersion.objects.get(name=plan["policy"])
    rms = {track: ModelVersion.objects.get(name=name) for track, name in plan["reward_models"].items()}
    training = job_training_settings()
    prompts = _batch_prompts(job.batch)
    if not prompts:
        raise ValidationError({"batch": ["the batch has no exportable comparisons to take prompts from"]})
    name = f"policy-{job.batch.name}-job{job.pk}"
    new = ModelVersion.objects.filter(name=name).first()  # a rerun after the policy was registered
    if new is None:
        new, _ = policy_refresh(
            policy=policy,
            rms=rms,
            prompts=prompts,
            workdir=job_workdir(job),
            name=name,
            lineage={"batches": [job.batch.name], "job": job.pk},
            training=training,
            on_progress=lambda fraction, stage: report(0.8 * fraction, stage),
        )
    report(0.8, "promotion gate: win rate on held-out prompts")
    evaluation = policy_compare(
        new_path=new.path,
        old_path=policy.path,
        helpfulness_rm=rms["helpfulness"].path,
        safety_rm=rms["safety"].path,
        prompts_file=str(settings.HELDOUT_PROMPTS),
        limit=settings.PROMOTION_HELDOUT_LIMIT,
        seed=training.seed,
        max_new_tokens=training.max_new_tokens or RejectionSamplingConfig.max_new_tokens,
        judges=_report_judges(),
    )
    passed = promotion_passes(evaluation["rm"], settings.PROMOTION_THRESHOLD)
    refused = policy_promote(new, policy) if passed else None
    policy_win_rates_record(version=new, parent=policy, evaluation=evaluation, promoted=passed and not refused)
    result = {
        "policy": new.name,
        "parent": policy.name,
        "passed_gate": passed,
        "promoted": passed and not refused,
        "promotion_note": refused,
        "promotion_threshold": settings.PROMOTION_THRESHOLD,
        "rejection_sampling": new.metrics,
        **win_rate_fields(evaluation["by_kind"]),  # over all, safety and helpfulness prompts
        "heldout_prompts": evaluation["rm"].n,
        "heldout_safety_prompts": evaluation["safety_prompts"],
    }
    return result, [new]


def _rm_accuracy(job: Job, report: JobReporter) -> tuple[dict, list[ModelVersion]]:
    """The current helpfulness and safety RMs' pairwise accuracy on the batch, overall, by strength and by
    safety bin."""
    from annotation.services.training import reward_models_accuracy

    plan = job_plan_pinned(job, lambda: {"reward_models": {track: v.name for track, v in _current_rms().items()}})
    data = job_workdir(job) / "batch.jsonl"
    pairs = job_rows_write(data, preference_export_rows(batches=[job.batch.name]))
    if not pairs:
        raise ValidationError({"batch": ["the batch has no exportable comparisons"]})
    rms = {track: ModelVersion.objects.get(name=name) for track, name in plan["reward_models"].items()}
    return {"pairs": pairs, **reward_models_accuracy(rms=rms, data=data, on_progress=report)}, []


RUNNERS = {
    Job.Kind.TRAIN_REWARD_MODELS: _train_reward_models,
    Job.Kind.REFRESH_POLICY: _refresh_policy,
    Job.Kind.RM_ACCURACY: _rm_accuracy,
}
