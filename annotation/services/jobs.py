"""Dashboard jobs: long training work started from a batch page and run by a Celery worker.

Flow: `job_start` checks the request, saves a queued Job and queues the task after commit →
the worker's `job_execute` claims it (`job_begin`), runs it while reporting progress (each report is
also the job's heartbeat), and records the result and the model versions it registered.

Nothing is lost when a worker dies: the task is acked late (a killed worker's task is redelivered),
`jobs_requeue_stale` re-queues a running job whose heartbeat went quiet and a queued job the broker
never took, and reward-model training resumes from its last checkpoint in the job's directory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone
from django.utils.module_loading import import_string

from annotation.errors import Conflict
from annotation.models import Batch, ImportedPair, Job, ModelVersion, Track
from annotation.selectors.exports import PLATFORM, preference_export_rows
from annotation.selectors.model_versions import model_version_current
from annotation.services.exports import preference_export_write
from annotation.services.model_versions import model_version_set_current

logger = logging.getLogger(__name__)
ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
REPORT_EVERY_S = 1.0  # progress writes are throttled to one per this many seconds (and each stage change)
END_WRITE_TRIES = 5  # the final status write is retried through a database blip before giving up


class Superseded(Exception):
    """Another worker has claimed this job since (this one was taken for dead): stop without writing."""


def _training_settings():
    """The jobs' training settings (settings.JOB_TRAINING, the tracker from settings.TRACKER unless it names
    one), checked: ValidationError names a bad key or value."""
    TrainingSettings = import_string("annotation.services.training.TrainingSettings")  # noqa: N806 (torch: lazy)
    if not isinstance(settings.JOB_TRAINING, dict):
        raise ValidationError({"JOB_TRAINING": ["must be a JSON object"]})
    return TrainingSettings.from_mapping({"tracker": settings.TRACKER, **settings.JOB_TRAINING})


def job_enqueue(*, job_id: int) -> None:
    """Queue the job's task. If the broker is down the job stays queued and the sweep re-queues it."""
    from worker.tasks import job_run  # lazy: annotation does not import worker at module load

    try:
        job_run.apply_async(args=[job_id], queue=settings.TRAINING_QUEUE)
    except Exception:  # the broker refused; nothing is lost, the sweep tries again
        logger.exception("could not queue job %s; the sweep will re-queue it", job_id)


def _requirements(kind: str, batch: Batch) -> dict[str, list[str]]:
    """What a job of this kind needs that is missing, as field errors."""
    errors: dict[str, list[str]] = {}
    if kind == Job.Kind.TRAIN_REWARD_MODELS:
        earlier = Batch.objects.filter(created_at__lte=batch.created_at)
        if not (
            Batch.objects.filter(pk__in=earlier, dialogues__turns__comparison__isnull=False).exists()
            or ImportedPair.objects.exists()
        ):
            errors["batch"] = ["there are no comparisons in the batches up to this one, nor imported pairs"]
        if not settings.RM_BASE_MODEL and model_version_current(kind="policy") is None:
            errors["base_model"] = ["no current policy to start the reward models from (set RM_BASE_MODEL)"]
        return errors
    if not batch.dialogues.filter(turns__comparison__isnull=False).exists():
        errors["batch"] = ["this batch has no comparisons yet"]
    missing = [track for track in Track.values if model_version_current(kind="reward", track=track) is None]
    if missing:
        errors["reward_models"] = [f"no current {' or '.join(missing)} reward model: train and make them current first"]
    if kind == Job.Kind.REFRESH_POLICY and model_version_current(kind="policy") is None:
        errors["policy"] = ["no current policy to refresh"]
    return errors


def job_start(*, kind: str, batch: Batch, created_by=None) -> Job:
    """Queue a job on a batch. ValidationError when its inputs are missing, Conflict when the same job runs."""
    if kind not in Job.Kind.values:
        raise ValidationError({"kind": [f"must be one of {', '.join(Job.Kind.values)}"]})
    errors = _requirements(kind, batch)
    if errors:
        raise ValidationError(errors)
    if kind != Job.Kind.RM_ACCURACY:
        _training_settings()
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_S)
    with transaction.atomic():
        Batch.objects.select_for_update().get(pk=batch.pk)  # one start at a time per batch
        same = Job.objects.filter(kind=kind, status__in=ACTIVE).exclude(
            status=Job.Status.RUNNING, heartbeat_at__lt=stale
        )
        # policy refreshes share the rejection-sampling pool and the current policy: one at a time overall
        running = (same if kind == Job.Kind.REFRESH_POLICY else same.filter(batch=batch)).first()
        if running is not None:
            raise Conflict(
                f"job #{running.pk} ({running.get_kind_display()}, batch {running.batch.name}) is "
                f"already {running.status}"
            )
        job = Job.objects.create(kind=kind, batch=batch, created_by=created_by, queued_at=timezone.now())
        transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


def job_cancel(*, job: Job, by=None) -> Job:
    """Stop a queued or running job: it is failed with who cancelled it. A running worker notices at its
    next progress report (its claim no longer holds) and stops without writing; a queued one is skipped."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in ACTIVE:
            raise Conflict(f"job #{job.pk} is already {job.status}")
        job.status, job.finished_at = Job.Status.FAILED, timezone.now()
        job.error = f"cancelled by {getattr(by, 'username', None) or 'an admin'}"
        job.save(update_fields=["status", "finished_at", "error"])
    return job


def job_begin(*, job_id: int) -> Job | None:
    """Claim a job for this worker; None when it is finished, missing, or running with a live heartbeat
    (a duplicate delivery). A job started more than JOB_MAX_ATTEMPTS times is failed instead."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_S)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE:
            return None
        if job.status == Job.Status.RUNNING and job.heartbeat_at and job.heartbeat_at > stale:
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job.status, job.finished_at = Job.Status.FAILED, timezone.now()
            job.error = f"the job did not finish after {job.attempts} attempts"
            job.save(update_fields=["status", "finished_at", "error"])
            return None
        now = timezone.now()
        job.status, job.attempts, job.heartbeat_at = Job.Status.RUNNING, job.attempts + 1, now
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "attempts", "heartbeat_at", "started_at"])
    return job


def _mine(job: Job):
    """The job's row while this worker's claim holds (a later claim increments attempts)."""
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts)


class _Reporter:
    """Progress and heartbeat of a running job, written at most every REPORT_EVERY_S (and on each new
    stage). Best effort through a database blip; Superseded once another worker owns the job."""

    def __init__(self, job: Job) -> None:
        self.job, self.last, self.stage, self.steps = job, 0.0, None, None

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        steps = stage.split(": step")[0]  # "… reward model: step 3/10" is one stage across its steps
        if steps == self.steps and now - self.last < REPORT_EVERY_S:
            return
        try:
            written = _mine(self.job).update(
                progress=min(1.0, max(0.0, fraction)), stage=stage[:128], heartbeat_at=timezone.now()
            )
        except DatabaseError:
            logger.warning("job %s: progress not written (database unavailable)", self.job.pk)
            connection.close()  # the next write reconnects
            return
        if not written:
            raise Superseded(f"job {self.job.pk}: attempt {self.job.attempts} was superseded")
        self.last, self.stage, self.steps = now, stage, steps


class _Heartbeat:
    """Touches a running job's heartbeat every JOB_HEARTBEAT_S from a thread of its own, so that a long
    step with no progress to report (loading a 70B checkpoint) never looks like a dead worker."""

    def __init__(self, job: Job) -> None:
        self.job, self.stop = job, threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job{job.pk}-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.JOB_HEARTBEAT_S):
                try:
                    if not _mine(self.job).update(heartbeat_at=timezone.now()):
                        return  # superseded or finished: the reporter stops the work
                except DatabaseError:
                    logger.warning("job %s: heartbeat not written (database unavailable)", self.job.pk)
                    connection.close()  # this thread's connection is broken: the next beat reconnects
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def _workdir(job: Job) -> Path:
    path = Path(settings.MODEL_DIR) / "jobs" / f"job{job.pk}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _rows_write(path: Path, rows) -> int:
    """Write export rows to `path` atomically; a rerun of the job reuses the file (same data, same resume)."""
    if path.exists():
        with path.open(encoding="utf-8") as existing:
            return sum(1 for _ in existing)
    return sum(preference_export_write(path, rows).values())


def _pinned(job: Job, compute) -> dict:
    """The job's plan: computed and saved on its first claim, reused as is by every rerun."""
    if not job.plan:
        plan = compute()
        if not _mine(job).update(plan=plan):
            raise Superseded(f"job {job.pk}: attempt {job.attempts} was superseded")
        job.plan = plan
    return job.plan


def _current_rms() -> dict[str, ModelVersion]:
    return {track: model_version_current(kind="reward", track=track) for track in Track.values}


def _train_reward_models(job: Job, report: _Reporter) -> tuple[dict, list[ModelVersion]]:
    """Both RMs on everything up to this batch (every batch created before it, and imported data), after
    the current RMs' accuracy on this batch (what the new ones are retrained to improve on)."""
    from annotation.services.training import reward_models_train

    plan = _pinned(
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
    workdir = _workdir(job)
    report(0.0, "exporting")
    pairs = _rows_write(
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
        training=_training_settings(),
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


def _accuracy_before_retraining(job: Job, names: dict[str, str], report: _Reporter) -> dict | None:
    """The given (then current) RMs' accuracy on the job's batch, as the RM-accuracy job records it;
    None when there were no current RMs or the batch exports nothing of its own."""
    from annotation.services.training import reward_models_accuracy

    data = _workdir(job) / "batch.jsonl"
    pairs = _rows_write(data, preference_export_rows(batches=[job.batch.name]))
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


def _promote(new: ModelVersion, parent: ModelVersion) -> str | None:
    """Make `new` current if `parent` still is (check and set), and add its staged rejection-sampling
    samples to its lineage's pool; otherwise say why not (and the pool stays as it was)."""
    from annotation.services.training import policy_pool_merge

    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind="policy", track="", is_current=True).first()
        if current is None or current.pk != parent.pk:
            return f"not promoted: the current policy changed to {current.name if current else 'none'} during the job"
        model_version_set_current(version=new)
    policy_pool_merge(policy=new)
    return None


def _refresh_policy(job: Job, report: _Reporter) -> tuple[dict, list[ModelVersion]]:
    """Rejection sampling from the current policy with the current RMs on this batch's prompts, then the
    promotion gate on held-out prompts: the new policy becomes current only if the RMs prefer it over
    the policy it started from, and only if that one is still current."""
    from annotation.services.iterations import policy_compare
    from annotation.services.training import policy_refresh
    from reward_training.evaluation.policy_eval import win_rate_fields
    from reward_training.evaluation.win_rate import promotion_passes
    from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig

    plan = _pinned(
        job,
        lambda: {
            "policy": model_version_current(kind="policy").name,
            "reward_models": {track: v.name for track, v in _current_rms().items()},
        },
    )
    policy = ModelVersion.objects.get(name=plan["policy"])
    rms = {track: ModelVersion.objects.get(name=name) for track, name in plan["reward_models"].items()}
    training = _training_settings()
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
            workdir=_workdir(job),
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
    )
    passed = promotion_passes(evaluation["rm"], settings.PROMOTION_THRESHOLD)
    refused = _promote(new, policy) if passed else None
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


def _rm_accuracy(job: Job, report: _Reporter) -> tuple[dict, list[ModelVersion]]:
    """The current helpfulness and safety RMs' pairwise accuracy on the batch, overall, by strength and by
    safety bin."""
    from annotation.services.training import reward_models_accuracy

    plan = _pinned(job, lambda: {"reward_models": {track: v.name for track, v in _current_rms().items()}})
    data = _workdir(job) / "batch.jsonl"
    pairs = _rows_write(data, preference_export_rows(batches=[job.batch.name]))
    if not pairs:
        raise ValidationError({"batch": ["the batch has no exportable comparisons"]})
    rms = {track: ModelVersion.objects.get(name=name) for track, name in plan["reward_models"].items()}
    return {"pairs": pairs, **reward_models_accuracy(rms=rms, data=data, on_progress=report)}, []


RUNNERS = {
    Job.Kind.TRAIN_REWARD_MODELS: _train_reward_models,
    Job.Kind.REFRESH_POLICY: _refresh_policy,
    Job.Kind.RM_ACCURACY: _rm_accuracy,
}


def job_execute(*, job_id: int) -> str:
    """Run a job to its end (the worker task calls this).

    A database outage while claiming propagates, for the task's retry. Through a blip mid-job the
    progress reports carry on and the final write is retried; if the database stays away the job's
    heartbeat goes quiet and the sweep re-queues it (a rerun resumes: checkpoints, registered versions).
    """
    job = job_begin(job_id=job_id)
    if job is None:
        return "skipped"
    try:
        with _Heartbeat(job):
            result, registered = RUNNERS[job.kind](job, _Reporter(job))
    except Superseded:
        logger.warning("job %s: another worker took it over; this one stops", job.pk)
        return "superseded"
    except DatabaseOperationalError:
        raise
    except ValidationError as error:
        return _job_end(job, Job.Status.FAILED, error="; ".join(error.messages))
    except Exception as error:  # a model that cannot load, a full disk: say so on the job page
        logger.exception("job %s failed", job.pk)
        return _job_end(job, Job.Status.FAILED, error=f"{type(error).__name__}: {error}")
    return _job_end(job, Job.Status.SUCCEEDED, result=result, registered=registered)


def _job_end(
    job: Job, status: str, *, result: dict | None = None, error: str = "", registered: list[ModelVersion] = ()
) -> str:
    """Record the outcome, if this worker still owns the job; retried through a short database blip."""
    for attempt in range(END_WRITE_TRIES):
        try:
            with transaction.atomic():
                if _mine(job).select_for_update().first() is None:
                    return "superseded"
                job.status, job.result, job.error, job.finished_at = status, result or {}, error, timezone.now()
                if status == Job.Status.SUCCEEDED:
                    job.progress, job.stage = 1.0, "done"
                job.save(update_fields=["status", "result", "error", "finished_at", "progress", "stage"])
                job.registered.add(*registered)
            return status
        except DatabaseError:
            if attempt == END_WRITE_TRIES - 1:
                raise
            logger.warning("job %s: outcome not written yet (database unavailable), retrying", job.pk)
            connection.close()
            time.sleep(2**attempt)


def jobs_requeue_stale(*, older_than_s: float | None = None) -> dict:
    """Beat: re-queue running jobs whose heartbeat went quiet (a killed worker) and queued jobs the broker
    never delivered; `job_begin` fails those out of attempts."""
    older_than_s = settings.JOB_STALE_S if older_than_s is None else older_than_s
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    with transaction.atomic():
        stale = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff, queued_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        stale += (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=Job.Status.QUEUED, queued_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        Job.objects.filter(pk__in=stale).update(queued_at=timezone.now())
        for job_id in stale:
            transaction.on_commit(lambda job_id=job_id: job_enqueue(job_id=job_id))
    return {"requeued": stale}


def jobs_nightly_rm_accuracy() -> list[int]:
    """Beat, nightly: measure the current RMs on every active batch that has comparisons."""
    started = []
    for batch in Batch.objects.filter(status=Batch.Status.ACTIVE):
        try:
            started.append(job_start(kind=Job.Kind.RM_ACCURACY, batch=batch).pk)
        except (ValidationError, Conflict) as error:
            logger.info("no nightly RM accuracy for batch %s: %s", batch.name, error)
    return started
