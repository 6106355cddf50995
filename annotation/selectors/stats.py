"""Batch figures for admins: volume, strength distribution, safety bins, per-annotator counts."""

from django.db.models import Count, Q

from annotation.models import Batch, Comparison, SafetyBin, Strength


def batch_stats(*, batch: Batch) -> dict:
    comparisons = Comparison.objects.filter(turn__dialogue__batch=batch)
    strength = dict(comparisons.values_list("strength").annotate(n=Count("id")))
    bins = dict(comparisons.exclude(safety_bin=None).values_list("safety_bin").annotate(n=Count("id")))
    annotators = (
        comparisons.values("annotator__profile__pseudonym", "annotator__username")
        .annotate(comparisons=Count("id"), unsafe_chosen=Count("id", filter=Q(unsafe_chosen=True)))
        .order_by("-comparisons")
    )
    total = comparisons.count()
    return {
        "batch": batch.name,
        "track": batch.track,
        "status": batch.status,
        "target_comparisons": batch.target_comparisons,
        "comparisons": total,
        "progress": total / batch.target_comparisons if batch.target_comparisons else None,
        "strength_distribution": {s: strength.get(s, 0) for s in Strength.values},
        "safety_bins": {b: bins.get(b, 0) for b in SafetyBin.values},
        "unsafe_chosen": comparisons.filter(unsafe_chosen=True).count(),
        # Agreement needs the overlap set (several annotators on one item), which is not built yet.
        "agreement": None,
        "annotators": [
            {
                "annotator": row["annotator__profile__pseudonym"],
                "username": row["annotator__username"],
                "comparisons": row["comparisons"],
                "unsafe_chosen": row["unsafe_chosen"],
            }
            for row in annotators
        ],
    }
