"""Reads of the overlap set: who judged which item how, mapped back to the item's own samples.

An assignment's turn shows the item's samples in a per-assignment order (`swapped`), so a choice
of "a" on a swapped turn is the source's sample "b". Every figure here is on the source's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from annotation.models import Batch, OverlapAssignment, OverlapItem, Turn
from annotation.selectors.agreement import (
    PREFERENCE_LEVELS,
    fleiss_kappa,
    pairwise_kappas,
    percent_agreement,
    preference_level,
    rating_pairs,
    weighted_kappa,
)

FLIP = {"a": "b", "b": "a"}


@dataclass(frozen=True)
class Judgement:
    item_id: int
    annotator_id: int
    annotator: str  # pseudonym
    username: str
    label: str  # the chosen sample, as labelled on the item's source turn
    shown: str  # the position the annotator clicked ("a" or "b")
    strength: str
    gold_label: str | None


def overlap_items_open(*, annotator, batch: Batch) -> QuerySet[OverlapItem]:
    """The batch's items the annotator could lease now, oldest first: pair sampled, never leased to them,
    fewer than `batch.overlap_k` live leases (a lease past its time counts until it is expired)."""
    return (
        OverlapItem.objects.filter(batch=batch, source_turn__status=Turn.Status.READY)
        .exclude(assignments__annotator=annotator)
        .annotate(live=Count("assignments", filter=Q(assignments__expired_at__isnull=True)))
        .filter(live__lt=batch.overlap_k)
        .order_by("id")
    )


def overlap_dialogue_ids(*, dialogue_ids: list[int]) -> set[int]:
    """Which of these dialogues hold a shared item (a live overlap lease) rather than the annotator's own prompt."""
    return set(
        OverlapAssignment.objects.filter(turn__dialogue_id__in=dialogue_ids, expired_at__isnull=True).values_list(
            "turn__dialogue_id", flat=True
        )
    )


def overlap_judgements(*, batch: Batch, annotator=None) -> list[Judgement]:
    """Every answered overlap assignment of the batch (optionally one annotator's), oldest first."""
    assignments = OverlapAssignment.objects.filter(
        item__batch=batch, expired_at__isnull=True, turn__status=Turn.Status.ANNOTATED
    )
    if annotator is not None:
        assignments = assignments.filter(annotator=annotator)
    rows = assignments.order_by("id").values_list(
        "item_id",
        "annotator_id",
        "annotator__profile__pseudonym",
        "annotator__username",
        "swapped",
        "turn__comparison__chosen",
        "turn__comparison__strength",
        "item__gold_label",
    )
    return [
        Judgement(
            item_id=item_id,
            annotator_id=annotator_id,
            annotator=pseudonym or username,
            username=username,
            label=FLIP[chosen] if swapped else chosen,
            shown=chosen,
            strength=strength,
            gold_label=gold,
        )
        for item_id, annotator_id, pseudonym, username, swapped, chosen, strength, gold in rows
    ]


def agreement_summary(judgements: list[Judgement]) -> dict:
    """Percent agreement, Fleiss' κ, weighted κ on strength and Cohen's κ per annotator pair."""
    by_item: dict[int, dict[str, Judgement]] = {}
    for j in judgements:
        by_item.setdefault(j.item_id, {})[j.annotator] = j
    multi = {item: votes for item, votes in by_item.items() if len(votes) >= 2}
    choices = [[j.label for j in votes.values()] for votes in multi.values()]
    levels = [
        [preference_level(chose_first=j.label == "a", strength=j.strength) for j in votes.values()]
        for votes in multi.values()
    ]
    pairs = pairwise_kappas({item: {name: j.label for name, j in votes.items()} for item, votes in multi.items()})
    return {
        "items": len(multi),
        "ratings": sum(len(v) for v in multi.values()),
        "percent_agreement": percent_agreement(choices),
        "fleiss_kappa": fleiss_kappa(choices),
        "weighted_kappa_strength": weighted_kappa(rating_pairs(levels), levels=PREFERENCE_LEVELS),
        "pairs": pairs,
        "published_human_agreement": [0.63, 0.77],
    }


def annotator_agreement(judgements: list[Judgement], *, annotator: str) -> dict:
    """How often one annotator agrees with the others on shared items (pairwise), and their gold accuracy."""
    by_item: dict[int, dict[str, Judgement]] = {}
    for j in judgements:
        by_item.setdefault(j.item_id, {})[j.annotator] = j
    agree = total = 0
    for votes in by_item.values():
        mine = votes.get(annotator)
        if mine is None:
            continue
        for name, other in votes.items():
            if name != annotator:
                total += 1
                agree += other.label == mine.label
    gold = [j for j in judgements if j.annotator == annotator and j.gold_label is not None]
    return {
        "agreement_with_others": agree / total if total else None,
        "agreement_pairs": total,
        "gold_items": len(gold),
        "gold_accuracy": sum(j.label == j.gold_label for j in gold) / len(gold) if gold else None,
    }
