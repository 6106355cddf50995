"""Queueing the worker's tasks by name, so that the services never import worker.tasks (which imports them).

    task_send(JOB_RUN, args=[job.pk], queue=settings.TRAINING_QUEUE)

With a broker the message goes out by name (Celery's `send_task`, routed like `apply_async`). In embedded
mode (CELERY_TASK_ALWAYS_EAGER: no broker, no worker) `task_get` finds the registered task, after Celery's
autodiscovery of the `worker` package, for this process to run. A test checks the names against worker.tasks.
"""

from __future__ import annotations

from celery import current_app
from django.conf import settings

TURN_SAMPLE = "worker.tasks.turn_sample"
JOB_RUN = "worker.tasks.job_run"


def task_get(name: str):
    """The registered task `name` (importing the worker's task modules on first use)."""
    current_app.loader.import_default_modules()
    return current_app.tasks[name]


def task_send(name: str, *, args: list, queue: str, task_id: str | None = None) -> None:
    """Queue task `name` on `queue`; in embedded mode, run it here and now instead (Celery's eager apply)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        task_get(name).apply_async(args=args, queue=queue, task_id=task_id)
    else:
        current_app.send_task(name, args=args, queue=queue, task_id=task_id)
