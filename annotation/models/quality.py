"""Quality control around the comparisons: guidelines, turn reports (skips and problems) and overlap items
judged by several annotators, with their leases."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.annotation import Batch, Sample, Turn
from annotation.models.choices import Track


class Guideline(models.Model):
    """Annotation guidelines in markdown: one track-wide text per track, plus an optional addendum per batch."""

    track = models.CharField(max_length=16, choices=Track.choices)
    # Empty: the track's standing guidelines. Set: what this batch adds to them.
    batch = models.OneToOneField(Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="guideline")
    body = models.TextField(help_text="Markdown. Raw HTML is shown as text, never run.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["track", "batch_id"]
        constraints = [
            models.UniqueConstraint(fields=["track"], condition=Q(batch__isnull=True), name="one_guideline_per_track"),
        ]

    def __str__(self) -> str:
        return f"{self.track} guidelines" + (f" for {self.batch}" if self.batch_id else "")


class TurnReport(models.Model):
    """An annotator skipped a turn, or reported it (offensive, broken, identical responses), with a reason."""

    class Reason(models.TextChoices):
        SKIP = "skip", "Skip (no problem, just pass)"
        OFFENSIVE = "offensive", "Offensive content"
        BROKEN = "broken", "Broken or unreadable responses"
        IDENTICAL = "identical", "Identical responses"
        OTHER = "other", "Other"

    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="report")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="turn_reports")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True, default="")
    resolved = models.BooleanField(default=False, help_text="An admin has looked at it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=["skip", "offensive", "broken", "identical", "other"]),
                name="turn_report_reason_valid",
            ),
        ]


class OverlapItem(models.Model):
    """An admin-supplied prompt with one pre-generated sample pair, judged by up to `batch.overlap_k` annotators.

    The pair lives on `source_turn` (sampled by the ordinary sampling task, in a dialogue of the
    uploader's); each assignment copies it into a turn of the annotator's own. Gold items carry the
    known answer as the label of the better sample on the source turn.
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="overlap_items")
    prompt = models.TextField()
    source_turn = models.OneToOneField(Turn, on_delete=models.PROTECT, related_name="overlap_item")
    gold_label = models.CharField(max_length=1, choices=Sample.Label.choices, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_label__isnull=True) | Q(gold_label__in=["a", "b"]), name="overlap_gold_label_valid"
            ),
        ]


class OverlapAssignment(models.Model):
    """One annotator's lease on an overlap item, and the turn of theirs that holds the item's pair.

    `swapped` says whether the source's sample A is shown as B. A lease is live while `expired_at`
    is null; live leases hold distinct slots 0..k-1, so the database itself refuses a (k+1)-th.
    """

    item = models.ForeignKey(OverlapItem, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="overlap_assignments"
    )
    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="overlap_assignment")
    slot = models.PositiveIntegerField()
    swapped = models.BooleanField()
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item_annotator"),
            models.UniqueConstraint(
                fields=["item", "slot"], condition=Q(expired_at__isnull=True), name="one_live_assignment_per_slot"
            ),
        ]
        indexes = [models.Index(fields=["expired_at", "expires_at"])]
