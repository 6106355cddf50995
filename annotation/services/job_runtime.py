"""What a running dashboard job uses while it works: its claim, progress reporter, heartbeat thread, working
directory, pinned plan and training settings. The lifecycle is annotation.services.jobs; the work of
each kind is annotation.services.job_runners.

Progress reports double as the job's heartbeat; a worker whose claim no longer holds (another worker
took the job over, or an admin cancelled it) gets Superseded at its next report and stops without writing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.module_loading import import_string

from annotation.models import Job
from annotation.services.exports import preference_export_write

logger = logging.getLogger(__name__)
REPORT_EVERY_S = 1.0  # progress writes are throttled to one per this many seconds (and each stage change)


class Superseded(Exception):
    """Another worker has claimed this job since (this one was taken for dead): stop without writing."""


def job_training_settings():
    """The jobs' training settings (settings.JOB_TRAINING, the tracker from settings.TRACKER unless it names
    one), checked: ValidationError names a bad key or value."""
    TrainingSettings = import_string("annotation.services.training.TrainingSettings")  # noqa: N806 (torch: lazy)
    if not isinstance(settings.JOB_TRAINING, dict):
        raise ValidationError({"JOB_TRAINING": ["must be a JSON object"]})
    return TrainingSettings.from_mapping({"tracker": settings.TRACKER, **settings.JOB_TRAINING})


def job_claimed(job: Job):
    """The job's row while this worker's claim holds (a later claim increments attempts)."""
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts)


class JobReporter:
    """Progress and heartbeat of a running job, written at most every REPORT_EVERY_S (and on each new
    stage). Best effort through a database blip; Superseded once another worker owns the job."""

    def __init__(self, job: Job) -> None:
        self.job, self.last, self.stage, self.stage_group = job, 0.0, None, None

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        group = stage.split(": step")[0]  # "… reward model: step 3/10" is one stage across its steps
        if group == self.stage_group and now - self.last < REPORT_EVERY_S:
            return
        try:
            written = job_claimed(self.job).update(
                progress=min(1.0, max(0.0, fraction)), stage=stage[:128], heartbeat_at=timezone.now()
            )
        except DatabaseError:
            logger.warning("job %s: progress not written (database unavailable)", self.job.pk)
            connection.close()  # the next write reconnects
            return
        if not written:
            raise Superseded(f"job {self.job.pk}: attempt {self.job.attempts} was superseded")
        self.last, self.stage, self.stage_group = now, stage, group


class JobHeartbeat:
    """Touches a running job's heartbeat every JOB_HEARTBEAT_S from a thread of its own, so that a long
    step with no progress to report (loading a 70B checkpoint) never looks like a dead worker."""

    def __init__(self, job: Job) -> None:
        self.job, self.stop = job, threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job{job.pk}-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.JOB_HEARTBEAT_S):
                try:
                    if not job_claimed(self.job).update(heartbeat_at=timezone.now()):
                        return  # superseded or finished: the reporter stops the work
                except DatabaseError:
                    logger.warning("job %s: heartbeat not written (database unavailable)", self.job.pk)
                    connection.close()  # this thread's connection is broken: the next beat reconnects
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> JobHeartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def job_workdir(job: Job) -> Path:
    path = Path(settings.MODEL_DIR) / "jobs" / f"job{job.pk}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_rows_write(path: Path, rows) -> int:
    """Write export rows to `path` atomically; a rerun of the job reuses the file (same data, same resume)."""
    if path.exists():
        with path.open(encoding="utf-8") as existing:
            return sum(1 for _ in existing)
    return sum(preference_export_write(path, rows).values())


def job_plan_pinned(job: Job, compute) -> dict:
    """The job's plan: computed and saved on its first claim, reused as is by every rerun."""
    if not job.plan:
        plan = compute()
        if not job_claimed(job).update(plan=plan):
            raise Superseded(f"job {job.pk}: attempt {job.attempts} was superseded")
        job.plan = plan
    return job.plan
