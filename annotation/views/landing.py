from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.selectors.annotator import annotator_today, annotator_tracks, dialogues_resumable
from annotation.selectors.guidelines import guideline_sections
from annotation.selectors.reports import turn_reports_open_count
from annotation.views.markdown_render import markdown_render
from annotation.views.security import content_security_policy


def guideline_panel(*, track: str, batch) -> list[dict]:
    return [{"title": s.title, "html": markdown_render(s.markdown)}
            for s in guideline_sections(track=track, batch=batch)]


def duration_text(ms: int) -> str:
    if ms < 60_000:
        return f"{round(ms / 1000)} s"
    minutes = round(ms / 60000)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@require_GET
@login_required
@content_security_policy
def landing_page(request):
    """Pick a track; today's count and time; the active batch of each track; dialogues to resume."""
    tracks = annotator_tracks(annotator=request.user)
    today = annotator_today(annotator=request.user)
    guidelines = []
    for overview in tracks:
        if overview.allowed:
            guidelines += guideline_panel(track=overview.track, batch=overview.batch)
    return render(request, "annotation/landing.html", {
        "tracks": tracks,
        "today": today,
        "today_time": duration_text(today["time_spent_ms"]),
        "resumable": dialogues_resumable(annotator=request.user),
        "guidelines": guidelines,
        "open_reports": turn_reports_open_count() if request.user.is_staff else None,
    })
