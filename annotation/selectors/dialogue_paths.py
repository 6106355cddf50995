"""Annotated dialogues as message lists: the chosen path through each (for Ghost Attention's input)."""

from django.db.models import Prefetch

from annotation.models import Sample, Turn

CHUNK = 500


def dialogue_chosen_paths(*, batches: list[str] | None = None, track: str | None = None) -> list[list[dict]]:
    """Each dialogue with at least one annotated turn: its system prompt, then every annotated turn's user
    message and chosen reply, in turn order, up to its first turn without a comparison."""
    turns = (
        Turn.objects.filter(status=Turn.Status.ANNOTATED)
        .select_related("dialogue", "comparison")
        .prefetch_related(Prefetch("samples", queryset=Sample.objects.only("turn_id", "label", "text")))
        .order_by("dialogue_id", "index")
    )
    if batches is not None:
        turns = turns.filter(dialogue__batch__name__in=batches)
    if track:
        turns = turns.filter(dialogue__track=track)
    paths: list[list[dict]] = []
    dialogue_id, expected = None, 0
    for turn in turns.iterator(chunk_size=CHUNK):
        if turn.dialogue_id != dialogue_id:
            dialogue_id, expected = turn.dialogue_id, 0
            system = turn.dialogue.system_prompt
            paths.append([{"role": "system", "content": system}] if system else [])
        if turn.index != expected:  # a gap: an earlier turn was never annotated, so the path ends there
            continue
        chosen = next((s.text for s in turn.samples.all() if s.label == turn.comparison.chosen), None)
        if chosen is None:
            continue
        paths[-1] += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": chosen}]
        expected += 1
    return [path for path in paths if any(m["role"] == "user" for m in path)]
