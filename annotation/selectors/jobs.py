from django.db.models import QuerySet

from annotation.models import Batch, Job, Strength, Track


def batch_jobs(*, batch: Batch, limit: int = 20) -> QuerySet[Job]:
    """The batch's jobs, newest first, with the model versions they registered."""
    return Job.objects.filter(batch=batch).prefetch_related("registered")[:limit]


def rm_accuracy_latest(*, batch: Batch) -> Job | None:
    """The batch's most recent finished RM-accuracy measurement."""
    return Job.objects.filter(batch=batch, kind=Job.Kind.RM_ACCURACY, status=Job.Status.SUCCEEDED).order_by(
        "-finished_at").first()


def rm_accuracy_rows(*, job: Job) -> list[dict]:
    """One row per reward model of an RM-accuracy job, with its accuracy by strength in Strength order
    (None where the batch had no pair of that strength)."""
    rows = []
    for track in Track.values:
        measured = job.result.get(track)
        if not measured:
            continue
        cells = measured.get("by_strength") or {}
        rows.append({"track": track, "model": measured.get("model"), "n": measured.get("n"),
                     "accuracy": measured.get("accuracy"), "ci95": measured.get("ci95") or [None, None],
                     "by_strength": [(cells.get(s) or {}).get("accuracy") for s in Strength.values]})
    return rows
