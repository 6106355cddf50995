from django.db.models import QuerySet

from annotation.models import Batch, Job


def batch_jobs(*, batch: Batch, limit: int = 20) -> QuerySet[Job]:
    """The batch's jobs, newest first, with the model versions they registered."""
    return Job.objects.filter(batch=batch).prefetch_related("registered")[:limit]


def rm_accuracy_latest(*, batch: Batch) -> Job | None:
    """The batch's most recent finished RM-accuracy measurement."""
    return Job.objects.filter(batch=batch, kind=Job.Kind.RM_ACCURACY, status=Job.Status.SUCCEEDED).order_by(
        "-finished_at").first()
