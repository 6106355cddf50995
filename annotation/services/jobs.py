"""Dashboard jobs: long training work started from a batch page and run by a Celery worker.

Flow: `job_start` checks the request, saves a queued Job and queues the task after commit →
the worker's `job_execute` claims it (`job_begin`), runs it (annotation.services.job_runners) while
reporting progress (each report is also the job's heartbeat; annotation.services.job_runtime), and
records the result and the model versions it registered.

Nothing is lost when a worker dies: the task is acked late (a killed worker's task is redelivered),
`jobs_requeue_stale` re-queues a running job whose heartbeat went quiet and a queued job the broker
never took, and reward-model training resumes from its last checkpoint in the job's directory.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Batch, ImportedPair, Job, ModelVersion, Track
from annotation.selectors.model_versions import model_version_current
from annotation.services.job_runners import RUNNERS
from annotation.services.job_runtime import JobHeartbeat, JobReporter, Superseded, job_claimed, job_training_settings
from annotation.services.queueing import JOB_RUN, task_send

logger = logging.getLogger(__name__)
ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
END_WRITE_TRIES = 5  # the final status write is retried through a database blip before giving up


def job_enqueue(*, job_id: int) -> None:
    """Queue the job's task. If the broker is down the job stays queued and the sweep re-queues it."""
    try:
        task_send(JOB_RUN, args=[job_id], queue=settings.TRAINING_QUEUE)
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
        job_training_settings()
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
        with JobHeartbeat(job):
            result, registered = RUNNERS[job.kind](job, JobReporter(job))
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
                if job_claimed(job).select_for_update().first() is None:
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
