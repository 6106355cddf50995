from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation.errors import Conflict
from annotation.models import Batch, Sample, Strength, Track, Turn, TurnReport
from annotation.selectors.annotator import annotator_today
from annotation.selectors.dialogues import dialogue_get
from annotation.services.dialogues import dialogue_create
from annotation.services.quality import LEASE_EXPIRED_ERROR, overlap_lease_next
from annotation.views.landing import duration_text, guideline_panel, shared_item_offered
from annotation.views.markdown_render import markdown_render
from annotation.views.security import content_security_policy

SHARED = "shared"  # the start form's `next` when it offers a shared (overlap) item
STRENGTH_KEYS = [(str(key), strength) for key, strength in enumerate(Strength, start=1)]  # keys 1–4, strongest first


def _responses(turn: Turn) -> list[dict]:
    return [
        {"label": s.label, "html": markdown_render(s.text), "tokens": s.completion_tokens}
        for s in sorted(turn.samples.all(), key=lambda s: s.label)
    ]


def _partial(turn: Turn) -> list[dict]:
    """A and B as far as the worker has written them (plain text; empty before the first token)."""
    texts = turn.partial_responses or {}
    return [{"label": label, "text": texts.get(label, "")} for label in Sample.Label.values]


def _history_item(turn: Turn) -> dict:
    comparison = turn.comparison
    chosen = next(s for s in turn.samples.all() if s.label == comparison.chosen)
    return {
        "index": turn.index + 1,
        "prompt_html": markdown_render(turn.prompt),
        "chosen": comparison.chosen,
        "chosen_html": markdown_render(chosen.text),
        "chosen_tokens": chosen.completion_tokens,
        "strength": comparison.get_strength_display(),
        "a_safe": comparison.a_safe,
        "b_safe": comparison.b_safe,
    }


def _shared_assignment(turns: list[Turn]):
    """The live overlap lease behind a dialogue that holds a shared item (its one turn), or None."""
    assignment = getattr(turns[0], "overlap_assignment", None) if turns else None
    return assignment if assignment is not None and assignment.expired_at is None else None


def dialogue_screen(*, dialogue, annotator) -> dict:
    """What the dialogue screen shows: the history with the chosen replies, then the turn in progress, then the
    next step. A shared item is a dialogue of one turn: once judged, the next step is a new dialogue."""
    turns = list(dialogue.turns.all())
    shared = _shared_assignment(turns)
    done = [t for t in turns if t.status == Turn.Status.ANNOTATED]
    last = turns[-1] if turns else None
    current = None
    if last is not None and last.status != Turn.Status.ANNOTATED:
        report = TurnReport.objects.filter(turn=last).first()
        current = {
            "id": last.pk,
            "index": last.index + 1,
            "status": "reported" if report else last.status,
            "prompt_html": markdown_render(last.prompt),
            "error": last.error,
            "lease_expired": last.status == Turn.Status.FAILED and last.error == LEASE_EXPIRED_ERROR,
            "responses": _responses(last) if last.status == Turn.Status.READY else [],
            "partial": _partial(last) if last.status == Turn.Status.SAMPLING else [],
            "report": report,
        }
    active = dialogue.batch.status == Batch.Status.ACTIVE
    if current is not None:
        state = current["status"]
    elif shared is not None:
        state = "finished"
    else:
        state = "compose" if active else "closed"
    today = annotator_today(annotator=annotator)
    return {
        "dialogue": dialogue,
        "shared": shared is not None,
        "lease_time": duration_text(dialogue.batch.overlap_lease_s * 1000),
        # what "New dialogue" (d) opens; not asked while the annotator is busy with a turn
        "shared_offer": state not in ("sampling", "ready")
        and shared_item_offered(annotator=annotator, batch=dialogue.batch),
        "today": today,
        "today_time": duration_text(today["time_spent_ms"]),
        "history": [_history_item(t) for t in done],
        "current": current,
        "state": state,
        "safety": dialogue.track == Track.SAFETY,
        "strengths": [{"key": k, "value": s.value, "label": s.label} for k, s in STRENGTH_KEYS],
        "strength_keys": {k: s.value for k, s in STRENGTH_KEYS},  # for the script's number keys
        "report_reasons": TurnReport.Reason.choices,
    }


@require_POST
@login_required
def dialogue_start(request):
    """Start a dialogue in the chosen track's active batch and open it. When the form offered a shared item
    (`next=shared`), lease one as POST /api/overlap/next/ does and open it instead; if the last one went to
    someone else meanwhile, the dialogue is the annotator's own."""
    track = request.POST.get("track", "")
    try:
        if request.POST.get("next") == SHARED and track in Track.values:
            turn = overlap_lease_next(annotator=request.user, track=track)
            if turn is not None:
                return redirect("dialogue", dialogue_id=turn.dialogue_id)
            messages.info(request, "The shared items were all taken just now; this dialogue is your own.")
        dialogue = dialogue_create(annotator=request.user, track=track)
    except (Conflict, PermissionDenied) as error:
        messages.error(request, str(error))
        return redirect("landing")
    except ValidationError:
        messages.error(request, "Pick a track first.")
        return redirect("landing")
    return redirect("dialogue", dialogue_id=dialogue.pk)


@require_GET
@login_required
@content_security_policy
def dialogue_page(request, dialogue_id: int):
    dialogue = dialogue_get(annotator=request.user, dialogue_id=dialogue_id)
    return render(
        request,
        "annotation/dialogue.html",
        {
            **dialogue_screen(dialogue=dialogue, annotator=request.user),
            "guidelines": guideline_panel(track=dialogue.track, batch=dialogue.batch),
        },
    )


@require_GET
@login_required
@content_security_policy
def dialogue_body_fragment(request, dialogue_id: int):
    """The changing part of the dialogue screen, which the page's script swaps in after each step."""
    dialogue = dialogue_get(annotator=request.user, dialogue_id=dialogue_id)
    return render(request, "annotation/_dialogue_body.html", dialogue_screen(dialogue=dialogue, annotator=request.user))
