"""Writes for quality control (issue 6): overlap items and their leases, gold answers, review, trust.

Overlap flow: `overlap_items_upload` stores admin prompts and queues the sampling of one pair per
prompt (the ordinary sampling task, on a source turn) → `overlap_lease_next` leases a ready item to
an annotator as a new turn of their own holding the same two samples, positions randomised →
`overlap_leases_expire` returns items whose lease ran out to the pool.

Race safety on PostgreSQL: a lease locks the item row (candidates in id order, so two requests
never wait on each other in a cycle), counts the live leases under the lock, and takes a free slot
0..k-1; a partial unique constraint on (item, slot) among live leases makes a (k+1)-th lease
impossible even if the lock were bypassed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import (
    Batch,
    Comparison,
    Dialogue,
    OverlapAssignment,
    OverlapItem,
    Profile,
    Sample,
    Turn,
)
from annotation.selectors.overlap import overlap_items_open
from annotation.services.dialogues import PROMPT_MAX_CHARS, user_may_annotate
from annotation.services.sampling import turn_sampling_enqueue
from annotation.services.users import user_profile

OVERLAP_UPLOAD_MAX = 1000
REVIEW_MAX_COMPARISONS = 10_000  # comparisons one review request may change
OVERLAP_K_MAX = 100  # annotators per overlap item
OVERLAP_LEASE_S_MAX = 7 * 24 * 3600
LEASE_EXPIRED_ERROR = "the lease on this overlap item expired; it went back to the pool"
# The account that owns the source dialogues of overlap items: nobody can log in as it, so no one
# (admins included) ever sees or answers a source turn in the annotator app.
OVERLAP_SOURCE_USERNAME = "_overlap_items"


def overlap_source_user():
    """The internal owner of source dialogues (inactive, no usable password), created on first use."""
    User = get_user_model()
    user = User.objects.filter(username=OVERLAP_SOURCE_USERNAME).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User(username=OVERLAP_SOURCE_USERNAME, is_active=False)
                user.set_unusable_password()
                user.save()
        except IntegrityError:  # a concurrent first upload created it
            user = User.objects.get(username=OVERLAP_SOURCE_USERNAME)
    return user


def overlap_items_upload(*, batch: Batch, prompts: list[str], created_by) -> list[OverlapItem]:
    """Add overlap prompts to a batch and queue the sampling of one pair for each.

    Each prompt gets a source dialogue holding one turn (owned by an internal account nobody logs in
    as); the sampling task fills it exactly as it fills an annotator's turn (the batch's models and
    temperature range). The uploader is recorded on the item.
    """
    errors: dict[str, list[str]] = {}
    cleaned = [p.strip() for p in prompts if isinstance(p, str) and p.strip()]
    if not cleaned:
        errors["prompts"] = ["give at least one non-empty prompt"]
    elif len(cleaned) > OVERLAP_UPLOAD_MAX:
        errors["prompts"] = [f"at most {OVERLAP_UPLOAD_MAX} prompts per upload"]
    elif any(len(p) > PROMPT_MAX_CHARS for p in cleaned):
        errors["prompts"] = [f"each prompt must be at most {PROMPT_MAX_CHARS} characters"]
    if batch.status == Batch.Status.CLOSED:
        raise Conflict(f"batch {batch.name!r} is closed")
    if errors:
        raise ValidationError(errors)
    items = []
    with transaction.atomic():
        now = timezone.now()
        owner = overlap_source_user()
        for prompt in cleaned:
            dialogue = Dialogue.objects.create(
                annotator=owner, track=batch.track, batch=batch, system_prompt=batch.system_prompt
            )
            turn = Turn.objects.create(
                dialogue=dialogue, index=0, prompt=prompt, sampling_attempts=1, sampling_queued_at=now
            )
            items.append(
                OverlapItem.objects.create(batch=batch, prompt=prompt, source_turn=turn, created_by=created_by)
            )
        for item in items:
            transaction.on_commit(lambda turn_id=item.source_turn_id: turn_sampling_enqueue(turn_id=turn_id))
    return items


@transaction.atomic
def overlap_item_gold_set(*, item: OverlapItem, label: str | None) -> OverlapItem:
    """Make an item gold with the known better sample (its label on the source turn), or plain again (None)."""
    if label not in ("a", "b", None):
        raise ValidationError({"gold_label": ['must be "a", "b" or null']})
    if label is not None and item.source_turn.status != Turn.Status.READY:
        raise Conflict("the item's pair is not sampled yet; set its answer once it is ready")
    item.gold_label = label
    item.save(update_fields=["gold_label"])
    return item


def overlap_due(*, annotator, batch: Batch) -> bool:
    """Whether the annotator's next turn in this batch should be an overlap item.

    Keeps the annotator's share of overlap turns at the batch's overlap fraction: due when one more
    overlap turn would not exceed `overlap_fraction` of their turns (this one included).
    """
    if batch.overlap_fraction <= 0:
        return False
    turns = Turn.objects.filter(dialogue__batch=batch, dialogue__annotator=annotator)
    total = turns.exclude(overlap_item__isnull=False).count()  # source turns of an admin's uploads never count
    overlap = OverlapAssignment.objects.filter(item__batch=batch, annotator=annotator).count()
    return overlap + 1 <= batch.overlap_fraction * (total + 1) + 1e-9


def overlap_leases_expire(*, batch: Batch | None = None, now=None) -> int:
    """Return items whose lease ran out, unanswered, to the pool; the annotator's turn becomes `failed`
    (without the item's pair, so retrying it samples an ordinary pair for the same prompt).

    A lease whose turn was answered in time stays (it is done). The turn row lock orders this
    against a concurrent comparison: whichever comes first wins.
    """
    now = now or timezone.now()
    stale = OverlapAssignment.objects.filter(expired_at__isnull=True, expires_at__lt=now).exclude(
        turn__status=Turn.Status.ANNOTATED
    )
    if batch is not None:
        stale = stale.filter(item__batch=batch)
    expired = 0
    for assignment_id, turn_id in stale.values_list("id", "turn_id"):
        with transaction.atomic():
            turn = Turn.objects.select_for_update().filter(pk=turn_id).first()
            if turn is not None and turn.status == Turn.Status.ANNOTATED:
                continue
            if turn is not None:
                # The copies of the item's pair go: a retry of this turn samples a fresh, ordinary pair.
                turn.samples.all().delete()
                turn.status = Turn.Status.FAILED
                turn.error = LEASE_EXPIRED_ERROR
                turn.save(update_fields=["status", "error"])
            expired += OverlapAssignment.objects.filter(pk=assignment_id, expired_at__isnull=True).update(
                expired_at=now
            )
    return expired


def _assignment_turn(*, item: OverlapItem, annotator, batch: Batch, swapped: bool) -> Turn:
    """A new dialogue of the annotator's with one ready turn holding the item's two samples."""
    dialogue = Dialogue.objects.create(
        annotator=annotator, track=batch.track, batch=batch, system_prompt=item.source_turn.dialogue.system_prompt
    )
    now = timezone.now()
    turn = Turn.objects.create(
        dialogue=dialogue,
        index=0,
        prompt=item.prompt,
        status=Turn.Status.READY,
        sampling_plan=item.source_turn.sampling_plan,
        sampling_attempts=0,
        ready_at=now,
    )
    flip = {"a": "b", "b": "a"}
    Sample.objects.bulk_create(
        Sample(
            turn=turn,
            label=flip[s.label] if swapped else s.label,
            text=s.text,
            model_version_id=s.model_version_id,
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=s.max_new_tokens,
            seed=s.seed,
            prompt_tokens=s.prompt_tokens,
            completion_tokens=s.completion_tokens,
            generation_seconds=s.generation_seconds,
        )
        for s in item.source_turn.samples.all()
    )
    return turn


def overlap_lease_next(*, annotator, track: str, rng: random.Random | None = None) -> Turn | None:
    """Lease the next overlap item of the track's active batch to the annotator: their new turn, or None.

    An item goes to at most `batch.overlap_k` annotators at once (answered leases included) and to
    each annotator once. Items nearest the front (oldest) fill first, so overlap accrues per item.
    """
    if not user_may_annotate(user=annotator, track=track):
        raise PermissionDenied(f"you are not enabled for the {track} track")
    batch = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
    if batch is None:
        raise Conflict(f"the {track} track has no active batch")
    overlap_leases_expire(batch=batch)
    rng = rng or random.Random()
    candidates = list(overlap_items_open(annotator=annotator, batch=batch).values_list("id", flat=True))
    for item_id in candidates:
        try:
            with transaction.atomic():
                item = (
                    OverlapItem.objects.select_for_update(of=("self",))
                    .select_related("source_turn__dialogue")
                    .get(pk=item_id)
                )
                assignments = OverlapAssignment.objects.filter(item=item)
                if assignments.filter(annotator=annotator).exists():
                    continue
                taken = set(assignments.filter(expired_at__isnull=True).values_list("slot", flat=True))
                free = [slot for slot in range(batch.overlap_k) if slot not in taken]
                if not free:
                    continue
                swapped = rng.random() < 0.5
                turn = _assignment_turn(item=item, annotator=annotator, batch=batch, swapped=swapped)
                OverlapAssignment.objects.create(
                    item=item,
                    annotator=annotator,
                    turn=turn,
                    slot=free[0],
                    swapped=swapped,
                    expires_at=timezone.now() + timedelta(seconds=batch.overlap_lease_s),
                )
                return turn
        except IntegrityError:  # a concurrent lease took the slot: try the next item
            continue
    return None


@transaction.atomic
def comparisons_review(*, comparison_ids: list[int], status: str) -> int:
    """Approve, reject or reset (pending) comparisons; the number changed."""
    if status not in Comparison.Review.values:
        raise ValidationError({"status": [f"must be one of {', '.join(Comparison.Review.values)}"]})
    if not comparison_ids:
        raise ValidationError({"comparisons": ["name at least one comparison"]})
    if len(comparison_ids) > REVIEW_MAX_COMPARISONS:
        raise ValidationError({"comparisons": [f"name at most {REVIEW_MAX_COMPARISONS} comparisons"]})
    return Comparison.objects.filter(pk__in=comparison_ids).update(review_status=status)


@transaction.atomic
def annotator_trust_set(*, user, trusted: bool) -> Profile:
    """Mark an annotator trusted (their comparisons export under `approved_or_trusted`) or not."""
    profile = user_profile(user)
    profile.trusted = bool(trusted)
    profile.save(update_fields=["trusted"])
    return profile


@transaction.atomic
def batch_overlap_configure(*, batch: Batch, overlap_k: int | None = None, overlap_lease_s: int | None = None) -> Batch:
    """Set how many annotators judge each overlap item and how long a lease lasts."""
    errors = {}
    if overlap_k is not None and overlap_k < 2:
        errors["overlap_k"] = ["at least 2 annotators per item (agreement needs two)"]
    elif overlap_k is not None and overlap_k > OVERLAP_K_MAX:
        errors["overlap_k"] = [f"at most {OVERLAP_K_MAX} annotators per item"]
    if overlap_lease_s is not None and not 1 <= overlap_lease_s <= OVERLAP_LEASE_S_MAX:
        errors["overlap_lease_s"] = [f"must lie between 1 and {OVERLAP_LEASE_S_MAX} seconds"]
    if errors:
        raise ValidationError(errors)
    if overlap_k is not None:
        batch.overlap_k = overlap_k
    if overlap_lease_s is not None:
        batch.overlap_lease_s = overlap_lease_s
    batch.save(update_fields=["overlap_k", "overlap_lease_s"])
    return batch
