from django.db.models import QuerySet

from annotation.models import Batch, Job, SafetyBin, Strength, Track

# The accuracy report's safety bins (paper 3.2.1 order, then pairs without safety labels) and their headings
SAFETY_BIN_LABELS = {**dict(SafetyBin.choices), "none": "No safety labels"}


def batch_jobs(*, batch: Batch, limit: int = 20) -> QuerySet[Job]:
    """The batch's jobs, newest first, with the model versions they registered."""
    return Job.objects.filter(batch=batch).prefetch_related("registered")[:limit]


def rm_accuracy_latest(*, batch: Batch) -> Job | None:
    """The batch's most recent finished RM-accuracy measurement."""
    return (
        Job.objects.filter(batch=batch, kind=Job.Kind.RM_ACCURACY, status=Job.Status.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )


def rm_accuracy_rows(*, job: Job, part: str | None = None) -> list[dict]:
    """One row per reward model of an RM-accuracy job (or of `part` of a job's result, such as a reward-model
    training's "accuracy_before_retraining"), with its accuracy by strength in Strength order and by safety
    bin in SAFETY_BIN_LABELS order (None where the batch had no pair of that kind)."""
    result = (job.result.get(part) if part else job.result) or {}
    rows = []
    for track in Track.values:
        measured = result.get(track)
        if not measured:
            continue
        cells, bins = measured.get("by_strength") or {}, measured.get("by_safety_bin") or {}
        rows.append(
            {
                "track": track,
                "model": measured.get("model"),
                "n": measured.get("n"),
                "accuracy": measured.get("accuracy"),
                "ci95": measured.get("ci95") or [None, None],
                "by_strength": [(cells.get(s) or {}).get("accuracy") for s in Strength.values],
                "by_safety_bin": [(bins.get(b) or {}).get("accuracy") for b in SAFETY_BIN_LABELS],
            }
        )
    return rows
