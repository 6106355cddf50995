"""What the annotator's landing page shows: today's work, the tracks with their active batch, what to resume."""

from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, Subquery, Sum
from django.utils import timezone

from annotation.models import Batch, Comparison, Dialogue, Track, Turn, TurnReport
from annotation.services.users import user_profile


@dataclass(frozen=True)
class TrackOverview:
    track: str
    allowed: bool
    batch: Batch | None
    batch_comparisons: int
    today_comparisons: int


def annotator_today(*, annotator) -> dict:
    """The annotator's comparisons since local midnight, and the time they took."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = Comparison.objects.filter(annotator=annotator, created_at__gte=start)
    totals = today.aggregate(n=Count("id"), ms=Sum("time_spent_ms"))
    by_track = dict(today.values_list("turn__dialogue__track").annotate(n=Count("id")))
    return {"comparisons": totals["n"] or 0, "time_spent_ms": totals["ms"] or 0, "by_track": by_track}


def annotator_tracks(*, annotator) -> list[TrackOverview]:
    """Each track: may this annotator work in it, its active batch and how far that batch is."""
    allowed_tracks = user_profile(annotator).tracks
    today = annotator_today(annotator=annotator)["by_track"]
    overview = []
    for track in Track.values:
        batch = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
        done = Comparison.objects.filter(turn__dialogue__batch=batch).count() if batch else 0
        overview.append(
            TrackOverview(
                track=track,
                allowed=not allowed_tracks or track in allowed_tracks,
                batch=batch,
                batch_comparisons=done,
                today_comparisons=today.get(track, 0),
            )
        )
    return overview


def dialogues_resumable(*, annotator, limit: int = 5) -> list[Dialogue]:
    """The annotator's dialogues in an active batch whose last turn still waits for them (newest first)."""
    last_status = Turn.objects.filter(dialogue=OuterRef("pk")).order_by("-index").values("status")[:1]
    return list(
        Dialogue.objects.filter(annotator=annotator, batch__status=Batch.Status.ACTIVE)
        .annotate(
            last_status=Subquery(last_status),
            turn_count=Count("turns"),
            last_at=Max("turns__created_at"),
            reported=Exists(TurnReport.objects.filter(turn__dialogue=OuterRef("pk"))),
        )
        .filter(last_status__in=[Turn.Status.SAMPLING, Turn.Status.READY, Turn.Status.FAILED], reported=False)
        .select_related("batch")
        .order_by("-last_at")[:limit]
    )
