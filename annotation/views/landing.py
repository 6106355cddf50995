from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.models import Batch
from annotation.selectors.annotator import annotator_today, annotator_tracks, dialogues_resumable
from annotation.selectors.guidelines import guideline_sections
from annotation.selectors.overlap import overlap_dialogue_ids, overlap_items_open
from annotation.selectors.reports import turn_reports_open_count
from annotation.services.quality import overlap_due
from annotation.views.markdown_render import markdown_render
from annotation.views.security import content_security_policy


def guideline_panel(*, track: str, batch) -> list[dict]:
    return [
        {"title": s.title, "html": markdown_render(s.markdown)} for s in guideline_sections(track=track, batch=batch)
    ]


def shared_item_offered(*, annotator, batch: Batch | None) -> bool:
    """Whether the annotator's next new dialogue in this batch should be a shared (overlap) item.

    The batch's overlap fraction decides when one is due (`overlap_due`, the rule behind
    GET /api/overlap/due/), and only while an item is still open to this annotator. Starting a dialogue
    then leases it (`overlap_lease_next`); the annotator may still finish the dialogue they are in.
    """
    if batch is None or batch.status != Batch.Status.ACTIVE:
        return False
    return (
        overlap_due(annotator=annotator, batch=batch) and overlap_items_open(annotator=annotator, batch=batch).exists()
    )


def duration_text(ms: int) -> str:
    if ms < 60_000:
        return f"{round(ms / 1000)} s"
    minutes = round(ms / 60000)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@require_GET
@login_required
@content_security_policy
def landing_page(request):
    """Pick a track (or the shared item due in it); today's count and time; the active batch of each track;
    dialogues to resume."""
    tracks = annotator_tracks(annotator=request.user)
    today = annotator_today(annotator=request.user)
    resumable = dialogues_resumable(annotator=request.user)
    shared = overlap_dialogue_ids(dialogue_ids=[d.pk for d in resumable])
    guidelines = []
    for overview in tracks:
        if overview.allowed:
            guidelines += guideline_panel(track=overview.track, batch=overview.batch)
    return render(
        request,
        "annotation/landing.html",
        {
            "tracks": [(t, t.allowed and shared_item_offered(annotator=request.user, batch=t.batch)) for t in tracks],
            "today": today,
            "today_time": duration_text(today["time_spent_ms"]),
            "resumable": [(d, d.pk in shared) for d in resumable],
            "guidelines": guidelines,
            "open_reports": turn_reports_open_count() if request.user.is_staff else None,
        },
    )
