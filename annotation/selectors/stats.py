"""Batch and annotator figures for admins (issue 6): progress, distributions, biases, agreement.

The figures come from one row per comparison (a few small fields, read with one query), summed
in plain Python by `comparison_figures`, so the batch page, the previous batch, each annotator and
each drift window all use the same arithmetic. A 100k-comparison batch is a few MB of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Length
from django.utils import timezone

from annotation.models import Batch, Comparison, OverlapItem, Profile, SafetyBin, Sample, Strength, Turn
from annotation.selectors.overlap import agreement_summary, annotator_agreement, overlap_judgements

# Paper (Llama 2, section 3.2.1): the safety-bin mix of Meta's safety data.
PAPER_SAFETY_BINS = {"chosen_safe_other_unsafe": 0.18, "both_safe": 0.47, "both_unsafe": 0.35}


@dataclass(frozen=True)
class Row:
    """One comparison, reduced to what the figures need."""

    id: int
    annotator_id: int
    chosen: str
    strength: str
    safety_bin: str | None
    unsafe_chosen: bool
    time_spent_ms: int
    created_at: datetime
    chosen_chars: int | None
    other_chars: int | None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def comparison_rows(*, batch: Batch, annotator=None) -> list[Row]:
    """The batch's comparisons as Rows (optionally one annotator's), oldest first."""

    def sample_chars(same_label: bool):
        samples = Sample.objects.filter(turn_id=OuterRef("turn_id"))
        samples = samples.filter(label=OuterRef("chosen")) if same_label else samples.exclude(label=OuterRef("chosen"))
        return Subquery(samples.annotate(chars=Length("text")).values("chars")[:1])

    comparisons = Comparison.objects.filter(turn__dialogue__batch=batch)
    if annotator is not None:
        comparisons = comparisons.filter(annotator=annotator)
    values = (
        comparisons.annotate(chosen_chars=sample_chars(True), other_chars=sample_chars(False))
        .order_by("created_at", "id")
        .values_list(
            "id",
            "annotator_id",
            "chosen",
            "strength",
            "safety_bin",
            "unsafe_chosen",
            "time_spent_ms",
            "created_at",
            "chosen_chars",
            "other_chars",
        )
    )
    return [Row(*v) for v in values]


def comparison_figures(rows: list[Row], *, now: datetime | None = None) -> dict:
    """Volume, strength mix, safety bins, median time, tie rate, A/B position bias, length bias, throughput."""
    n = len(rows)
    strengths = {s: sum(r.strength == s for r in rows) for s in Strength.values}
    bins = {b: sum(r.safety_bin == b for r in rows) for b in SafetyBin.values}
    binned = sum(bins.values())
    longer = sum(
        1 for r in rows if r.chosen_chars is not None and r.other_chars is not None and r.chosen_chars > r.other_chars
    )
    shorter = sum(
        1 for r in rows if r.chosen_chars is not None and r.other_chars is not None and r.chosen_chars < r.other_chars
    )
    chose_a = sum(r.chosen == "a" for r in rows)
    span_h = (rows[-1].created_at - rows[0].created_at).total_seconds() / 3600 if n >= 2 else 0.0
    now = now or timezone.now()
    return {
        "comparisons": n,
        "strength_distribution": strengths,
        "strength_shares": {s: _share(c, n) for s, c in strengths.items()},
        "safety_bins": bins,
        "safety_bin_shares": {b: _share(c, binned) for b, c in bins.items()},
        "unsafe_chosen": sum(r.unsafe_chosen for r in rows),
        "median_time_ms": median(r.time_spent_ms for r in rows) if rows else None,
        "tie_rate": _share(strengths[Strength.NEGLIGIBLY_BETTER], n),
        # Share of choices on the left/first position (0.5 = no bias; overlap turns randomise A/B), and
        # its z-score against a fair coin, (A - n/2) / sqrt(n/4): |z| > 2 is unlikely by chance.
        "position_bias": {
            "a_rate": _share(chose_a, n),
            "chose_a": chose_a,
            "n": n,
            "z": (chose_a - n / 2) / (n / 4) ** 0.5 if n else None,
        },
        # How often the longer response (in characters) wins, among pairs of unequal length.
        "length_bias": {"longer_wins_rate": _share(longer, longer + shorter), "longer": longer, "shorter": shorter},
        "throughput": {
            # over the span from first to last comparison, counted as at least an hour: a burst of work
            # in a few minutes is its count per hour, not a rate extrapolated from seconds
            "per_hour": n / max(span_h, 1.0) if n else None,
            "last_hour": sum(1 for r in rows if r.created_at >= now - timedelta(hours=1)),
            "first": rows[0].created_at.isoformat() if rows else None,
            "last": rows[-1].created_at.isoformat() if rows else None,
        },
    }


def batch_previous(*, batch: Batch) -> Batch | None:
    """The batch of the same track created just before this one."""
    return (
        Batch.objects.filter(track=batch.track)
        .filter(created_at__lte=batch.created_at)
        .exclude(pk=batch.pk)
        .exclude(created_at=batch.created_at, id__gt=batch.pk)
        .order_by("-created_at", "-id")
        .first()
    )


def _annotator_rows(rows: list[Row], judgements, profiles: dict[int, Profile]) -> list[dict]:
    by_annotator: dict[int, list[Row]] = {}
    for r in rows:
        by_annotator.setdefault(r.annotator_id, []).append(r)
    result = []
    for annotator_id, mine in sorted(by_annotator.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        profile = profiles.get(annotator_id)
        pseudonym = profile.pseudonym if profile else str(annotator_id)
        figures = comparison_figures(mine)
        result.append(
            {
                "id": annotator_id,
                "annotator": pseudonym,
                "username": profile.user.username if profile else None,
                "trusted": bool(profile and profile.trusted),
                "comparisons": figures["comparisons"],
                "unsafe_chosen": figures["unsafe_chosen"],
                "median_time_ms": figures["median_time_ms"],
                "tie_rate": figures["tie_rate"],
                "a_rate": figures["position_bias"]["a_rate"],
                "per_hour": figures["throughput"]["per_hour"],
                **annotator_agreement(judgements, annotator=pseudonym),
            }
        )
    return result


def batch_stats(*, batch: Batch, with_previous: bool = True) -> dict:
    """Everything the batch page shows; also GET /api/batches/{id}/stats/."""
    rows = comparison_rows(batch=batch)
    figures = comparison_figures(rows)
    judgements = overlap_judgements(batch=batch)
    profiles = {
        p.user_id: p for p in Profile.objects.select_related("user").filter(user_id__in={r.annotator_id for r in rows})
    }
    items = OverlapItem.objects.filter(batch=batch)
    stats = {
        "batch": batch.name,
        "id": batch.pk,
        "track": batch.track,
        "status": batch.status,
        "target_comparisons": batch.target_comparisons,
        "progress": figures["comparisons"] / batch.target_comparisons if batch.target_comparisons else None,
        **figures,
        "paper_safety_bin_shares": PAPER_SAFETY_BINS,
        "agreement": agreement_summary(judgements),
        "overlap": {
            "k": batch.overlap_k,
            "fraction": batch.overlap_fraction,
            "items": items.count(),
            "items_ready": items.filter(source_turn__status=Turn.Status.READY).count(),
            "gold_items": items.exclude(gold_label=None).count(),
            "judgements": len(judgements),
        },
        "annotators": _annotator_rows(rows, judgements, profiles),
    }
    if with_previous:
        previous = batch_previous(batch=batch)
        stats["previous"] = batch_stats(batch=previous, with_previous=False) if previous else None
        if stats["previous"]:
            stats["previous"].pop("annotators")
    return stats


def annotator_drift(rows: list[Row], *, windows: int = 10) -> list[dict]:
    """The annotator's figures over time: `windows` consecutive, equal-sized slices of their comparisons."""
    if not rows:
        return []
    size = max(1, -(-len(rows) // windows))
    out = []
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        figures = comparison_figures(chunk)
        out.append(
            {
                "from": chunk[0].created_at.isoformat(),
                "to": chunk[-1].created_at.isoformat(),
                "comparisons": len(chunk),
                "a_rate": figures["position_bias"]["a_rate"],
                "median_time_ms": figures["median_time_ms"],
                "tie_rate": figures["tie_rate"],
            }
        )
    return out


def annotator_stats(*, user, batch: Batch | None = None) -> dict:
    """One annotator: volume, speed, agreement, gold accuracy, position bias and drift, per batch."""
    batches = (
        [batch]
        if batch is not None
        else list(
            Batch.objects.filter(dialogues__turns__comparison__annotator=user).distinct().order_by("created_at", "id")
        )
    )
    profile = Profile.objects.filter(user=user).first()
    per_batch, all_rows = [], []
    for b in batches:
        rows = comparison_rows(batch=b, annotator=user)
        all_rows += rows
        judgements = overlap_judgements(batch=b)
        figures = comparison_figures(rows)
        per_batch.append(
            {
                "batch": b.name,
                "batch_id": b.pk,
                "comparisons": figures["comparisons"],
                "median_time_ms": figures["median_time_ms"],
                "a_rate": figures["position_bias"]["a_rate"],
                "tie_rate": figures["tie_rate"],
                "length_bias": figures["length_bias"]["longer_wins_rate"],
                "per_hour": figures["throughput"]["per_hour"],
                **annotator_agreement(judgements, annotator=profile.pseudonym if profile else str(user.pk)),
            }
        )
    all_rows.sort(key=lambda r: (r.created_at, r.id))
    overall = comparison_figures(all_rows)
    return {
        "id": user.pk,
        "username": user.username,
        "annotator": profile.pseudonym if profile else None,
        "trusted": bool(profile and profile.trusted),
        "comparisons": overall["comparisons"],
        "median_time_ms": overall["median_time_ms"],
        "position_bias": overall["position_bias"],
        "tie_rate": overall["tie_rate"],
        "length_bias": overall["length_bias"],
        "batches": per_batch,
        "drift": annotator_drift(all_rows),
    }
