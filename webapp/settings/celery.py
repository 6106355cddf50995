"""Celery: Redis as the broker when REDIS_URL is set, otherwise tasks run in-process (eager)."""

from datetime import timedelta

from celery.schedules import crontab
from kombu import Queue

from webapp.settings import env

CELERY_BROKER_URL = env.REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not env.REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Sampling goes to the device-class queue (SAMPLING_QUEUE: "cpu" or "gpu"); everything else,
# like the beat sweep, to "default". Dashboard jobs (hours of training) go to TRAINING_QUEUE, so that
# a deployment can give them workers of their own (`-Q training`) and they never hold up sampling.
# `celery -A webapp worker` with no -Q consumes every queue below: all that one machine needs.
# `-Q gpu,default` (or `-Q training`) splits them across machines.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [
    Queue(name, routing_key=name) for name in dict.fromkeys(["default", env.SAMPLING_QUEUE, env.TRAINING_QUEUE])
]
CELERY_TASK_CREATE_MISSING_QUEUES = True  # -Q gpu on a web side set to cpu still works
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message a killed worker held returns to its queue after the visibility timeout. Sampling's hard time
# limit plus a minute: no live sampling task holds a message longer (a retry's countdown is seconds).
# Dashboard jobs run for hours, so a long one is redelivered each timeout; job_begin sees its live
# heartbeat and drops the duplicate.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(env.SAMPLING_TIME_LIMIT_S) + 60}
CELERY_BEAT_SCHEDULE = {
    "requeue-stuck-turns": {
        "task": "worker.tasks.turns_requeue_stuck_task",
        "schedule": timedelta(seconds=env.SAMPLING_SWEEP_EVERY_S),
    },
    "requeue-stale-jobs": {
        "task": "worker.tasks.jobs_requeue_stale_task",
        "schedule": timedelta(seconds=env.SAMPLING_SWEEP_EVERY_S),
    },
    "nightly-rm-accuracy": {
        "task": "worker.tasks.jobs_nightly_rm_accuracy_task",
        "schedule": crontab(hour=env.RM_ACCURACY_NIGHTLY_HOUR, minute=0),
    },
}
