from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Batch, Dialogue, Track, Turn
from annotation.services.sampling import turn_sampling_enqueue
from annotation.services.users import user_profile

PROMPT_MAX_CHARS = 8000


def user_may_annotate(*, user, track: str) -> bool:
    tracks = user_profile(user).tracks
    return not tracks or track in tracks


@transaction.atomic
def dialogue_create(*, annotator, track: str) -> Dialogue:
    """Start a dialogue in the track's active batch (409 when there is none)."""
    if track not in Track.values:
        raise ValidationError({"track": [f"must be one of {', '.join(Track.values)}"]})
    if not user_may_annotate(user=annotator, track=track):
        raise PermissionDenied(f"you are not enabled for the {track} track")
    batch = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
    if batch is None:
        raise Conflict(f"the {track} track has no active batch")
    return Dialogue.objects.create(annotator=annotator, track=track, batch=batch, system_prompt=batch.system_prompt)


@transaction.atomic
def turn_create(*, dialogue: Dialogue, prompt: str) -> Turn:
    """Add the next user prompt to a dialogue and queue the sampling of its two responses."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError({"prompt": ["must not be empty"]})
    if len(prompt) > PROMPT_MAX_CHARS:
        raise ValidationError({"prompt": [f"must be at most {PROMPT_MAX_CHARS} characters"]})
    dialogue = Dialogue.objects.select_for_update().select_related("batch").get(pk=dialogue.pk)
    if dialogue.batch.status != Batch.Status.ACTIVE:
        raise Conflict(f"batch {dialogue.batch.name!r} is no longer active; start a new dialogue")
    last = dialogue.turns.order_by("-index").first()
    if last is not None and last.status != Turn.Status.ANNOTATED:
        raise Conflict("the previous turn has no comparison yet")
    turn = Turn.objects.create(
        dialogue=dialogue,
        index=0 if last is None else last.index + 1,
        prompt=prompt.strip(),
        sampling_attempts=1,
        sampling_queued_at=timezone.now(),
    )
    transaction.on_commit(lambda: turn_sampling_enqueue(turn_id=turn.pk))
    return turn


@transaction.atomic
def turn_retry(*, turn: Turn) -> Turn:
    """Sample a failed turn again, with a fresh plan (409 unless the turn is `failed`)."""
    turn = Turn.objects.select_for_update().get(pk=turn.pk)
    if turn.status != Turn.Status.FAILED:
        raise Conflict(f"only a failed turn can be retried; this one is {turn.status}")
    turn.status = Turn.Status.SAMPLING
    turn.error = turn.error_detail = ""
    turn.sampling_plan = None
    turn.sampling_attempts = 1
    turn.sampling_queued_at = timezone.now()
    turn.partial_responses = None  # whatever a worker published before the failure
    turn.save(
        update_fields=[
            "status",
            "error",
            "error_detail",
            "sampling_plan",
            "sampling_attempts",
            "sampling_queued_at",
            "partial_responses",
        ]
    )
    transaction.on_commit(lambda: turn_sampling_enqueue(turn_id=turn.pk))
    return turn
