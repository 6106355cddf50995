"""The review queue: a batch's comparisons awaiting review, flagged ones first.

Flags (the heavier first): the chosen response is unsafe while the other is safe; the turn was
reported or skipped; a gold item answered wrongly; a very fast submission (under a quarter of the
batch's median time, or under FAST_FLOOR_MS); an outlier annotator (an A/B position rate far from
one half, or low agreement with the others on the overlap set).
"""

from __future__ import annotations

from annotation.models import Batch, Comparison, TurnReport
from annotation.selectors.overlap import annotator_agreement, overlap_judgements
from annotation.selectors.stats import comparison_figures, comparison_rows

FLAG_WEIGHTS = {"unsafe_chosen": 8, "reported": 4, "gold_miss": 2, "fast": 1, "outlier": 1}
FAST_FLOOR_MS = 1500
FAST_SHARE_OF_MEDIAN = 0.25
OUTLIER_MIN_COMPARISONS = 10
OUTLIER_A_RATE_DISTANCE = 0.3
OUTLIER_MIN_AGREEMENT = 0.4
OUTLIER_MIN_PAIRS = 5


def outlier_annotators(*, batch: Batch, rows=None, judgements=None) -> dict[int, str]:
    """Annotator id -> why they stand out (position bias or low agreement), for this batch."""
    rows = comparison_rows(batch=batch) if rows is None else rows
    judgements = overlap_judgements(batch=batch) if judgements is None else judgements
    pseudonyms = {j.annotator_id: j.annotator for j in judgements}
    by_annotator: dict[int, list] = {}
    for r in rows:
        by_annotator.setdefault(r.annotator_id, []).append(r)
    reasons = {}
    for annotator_id, mine in by_annotator.items():
        a_rate = comparison_figures(mine)["position_bias"]["a_rate"]
        if len(mine) >= OUTLIER_MIN_COMPARISONS and abs(a_rate - 0.5) > OUTLIER_A_RATE_DISTANCE:
            reasons[annotator_id] = f"chooses A {a_rate:.0%} of the time"
            continue
        if annotator_id in pseudonyms:
            agreement = annotator_agreement(judgements, annotator=pseudonyms[annotator_id])
            if (
                agreement["agreement_pairs"] >= OUTLIER_MIN_PAIRS
                and agreement["agreement_with_others"] < OUTLIER_MIN_AGREEMENT
            ):
                reasons[annotator_id] = f"agrees with others {agreement['agreement_with_others']:.0%} of the time"
    return reasons


def review_queue(*, batch: Batch, status: str = Comparison.Review.PENDING, limit: int = 200) -> dict:
    """The comparisons with this review status, flagged first (by weight), then oldest first."""
    rows = comparison_rows(batch=batch)
    judgements = overlap_judgements(batch=batch)
    median_ms = comparison_figures(rows)["median_time_ms"] or 0
    fast_below = max(FAST_FLOOR_MS, FAST_SHARE_OF_MEDIAN * median_ms)
    outliers = outlier_annotators(batch=batch, rows=rows, judgements=judgements)
    # Flags from a narrow read of every candidate; the full rows only for the `limit` shown.
    candidates = Comparison.objects.filter(turn__dialogue__batch=batch, review_status=status).values_list(
        "id",
        "created_at",
        "unsafe_chosen",
        "chosen",
        "time_spent_ms",
        "annotator_id",
        "turn__report__id",
        "turn__overlap_assignment__swapped",
        "turn__overlap_assignment__item__gold_label",
    )
    flagged = []
    for pk, created_at, unsafe_chosen, chosen, time_spent_ms, annotator_id, report, swapped, gold in candidates:
        flags = []
        if unsafe_chosen:
            flags.append("unsafe_chosen")
        if report is not None:
            flags.append("reported")
        if gold is not None and ({"a": "b", "b": "a"}[chosen] if swapped else chosen) != gold:
            flags.append("gold_miss")
        if time_spent_ms < fast_below:
            flags.append("fast")
        if annotator_id in outliers:
            flags.append("outlier")
        flagged.append((-sum(FLAG_WEIGHTS[f] for f in flags), created_at, pk, flags))
    flagged.sort()
    shown = flagged[:limit]
    details = (
        Comparison.objects.select_related("turn", "annotator__profile")
        .prefetch_related("turn__samples")
        .in_bulk([pk for _, _, pk, _ in shown])
    )
    entries = [(details[pk], flags) for _, _, pk, flags in shown]
    reports = TurnReport.objects.filter(turn__dialogue__batch=batch, resolved=False).select_related(
        "annotator__profile", "turn"
    )
    return {
        "batch": batch.name,
        "status": status,
        "fast_below_ms": fast_below,
        "outliers": {str(k): v for k, v in outliers.items()},
        "total": len(flagged),
        "flagged": sum(1 for *_, flags in flagged if flags),
        "items": [
            {
                "id": c.pk,
                "turn": c.turn_id,
                "annotator": c.annotator.profile.pseudonym if hasattr(c.annotator, "profile") else None,
                "username": c.annotator.username,
                "prompt": c.turn.prompt,
                "chosen": c.chosen,
                "strength": c.strength,
                "safety_bin": c.safety_bin,
                "unsafe_chosen": c.unsafe_chosen,
                "time_spent_ms": c.time_spent_ms,
                "review_status": c.review_status,
                "responses": {s.label: s.text for s in c.turn.samples.all()},
                "flags": flags,
                "outlier_reason": outliers.get(c.annotator_id),
            }
            for c, flags in entries
        ],
        "reports": [
            {
                "turn": r.turn_id,
                "reason": r.reason,
                "note": r.note,
                "prompt": r.turn.prompt,
                "annotator": r.annotator.username,
                "created_at": r.created_at.isoformat(),
            }
            for r in reports[:limit]
        ],
    }
