from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from annotation.models import Dialogue, Sample, Turn


def chosen_text(turn: Turn) -> str | None:
    """The text of the sample the annotator chose, or None before a comparison."""
    comparison = getattr(turn, "comparison", None)
    if comparison is None:
        return None
    return next((s.text for s in turn.samples.all() if s.label == comparison.chosen), None)


def turn_messages(*, turn: Turn) -> list[dict]:
    """The prompt for sampling a turn: system prompt, earlier turns with their chosen replies, the new message."""
    dialogue = turn.dialogue
    messages = [{"role": "system", "content": dialogue.system_prompt}] if dialogue.system_prompt else []
    earlier = (
        Turn.objects.filter(dialogue=dialogue, index__lt=turn.index)
        .select_related("comparison")
        .prefetch_related("samples")
        .order_by("index")
    )
    for previous in earlier:
        messages.append({"role": "user", "content": previous.prompt})
        reply = chosen_text(previous)
        if reply is not None:
            messages.append({"role": "assistant", "content": reply})
    messages.append({"role": "user", "content": turn.prompt})
    return messages


def _turns_prefetch() -> Prefetch:
    return Prefetch(
        "turns",
        queryset=Turn.objects.select_related("comparison").prefetch_related(
            Prefetch("samples", queryset=Sample.objects.order_by("label"))
        ),
    )


def dialogue_list(*, annotator) -> QuerySet[Dialogue]:
    """The annotator's own dialogues, newest first, with their turns."""
    return Dialogue.objects.filter(annotator=annotator).select_related("batch").prefetch_related(_turns_prefetch())


def dialogue_get(*, annotator, dialogue_id: int) -> Dialogue:
    """One of the annotator's dialogues; 404 for anyone else's."""
    return get_object_or_404(dialogue_list(annotator=annotator), pk=dialogue_id)


def turn_get(*, annotator, turn_id: int) -> Turn:
    """One of the annotator's turns; 404 for anyone else's."""
    return get_object_or_404(
        Turn.objects.select_related("dialogue", "comparison").prefetch_related("samples"),
        pk=turn_id,
        dialogue__annotator=annotator,
    )
