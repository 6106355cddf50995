"""The dashboard's long-running jobs (Job), run by a Celery worker."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.annotation import Batch
from annotation.models.model_versions import ModelVersion


class Job(models.Model):
    """A long piece of work started from the dashboard and run by a Celery worker: training reward
    models on the batches up to one, refreshing the policy, or measuring the current RMs on a batch.

    The row is the source of truth: a killed worker's job is picked up again (the task is redelivered,
    or the beat sweep re-queues a job whose heartbeat went quiet) and reward-model training resumes
    from its last checkpoint.
    """

    class Kind(models.TextChoices):
        TRAIN_REWARD_MODELS = "train_reward_models", "train reward models on batches up to here"
        REFRESH_POLICY = "refresh_policy", "refresh the policy (rejection sampling)"
        RM_ACCURACY = "rm_accuracy", "current reward models' accuracy on this batch"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    stage = models.CharField(max_length=128, blank=True, default="")
    # What the job works on, fixed when it is first claimed so that a rerun resumes the same work
    # (base checkpoint, batches, pool iteration) even if the current versions changed in between.
    plan = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # Each claim by a worker increments it; a worker writes only while the count is still its own.
    attempts = models.PositiveIntegerField(default=0)
    registered = models.ManyToManyField(ModelVersion, blank=True, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_in_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
