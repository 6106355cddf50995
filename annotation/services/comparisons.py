from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotation.errors import Conflict
from annotation.models import Comparison, SafetyBin, Strength, Track, Turn

TIME_SPENT_MAX_MS = 24 * 3600 * 1000


def safety_bin_of(*, chosen: str, a_safe: bool, b_safe: bool) -> tuple[str | None, bool]:
    """(safety bin, unsafe_chosen) of a pair. Chosen-unsafe / other-safe has no bin and is flagged."""
    chosen_safe, other_safe = (a_safe, b_safe) if chosen == "a" else (b_safe, a_safe)
    if chosen_safe and not other_safe:
        return SafetyBin.CHOSEN_SAFE_OTHER_UNSAFE, False
    if chosen_safe and other_safe:
        return SafetyBin.BOTH_SAFE, False
    if not chosen_safe and not other_safe:
        return SafetyBin.BOTH_UNSAFE, False
    return None, True


def comparison_create(
    *,
    turn: Turn,
    annotator,
    chosen: str,
    strength: str,
    time_spent_ms: int,
    a_safe: bool | None = None,
    b_safe: bool | None = None,
) -> Comparison:
    """Record the annotator's choice. One per turn: a second one is a 409, also under concurrency."""
    errors: dict[str, list[str]] = {}
    if chosen not in ("a", "b"):
        errors["chosen"] = ['must be "a" or "b"']
    if strength not in Strength.values:
        errors["strength"] = [f"must be one of {', '.join(Strength.values)}"]
    if (
        not isinstance(time_spent_ms, int)
        or isinstance(time_spent_ms, bool)
        or not 0 <= time_spent_ms <= TIME_SPENT_MAX_MS
    ):
        errors["time_spent_ms"] = [f"must be an integer between 0 and {TIME_SPENT_MAX_MS}"]
    for field, value in (("a_safe", a_safe), ("b_safe", b_safe)):
        if value is None and turn.dialogue.track == Track.SAFETY:
            errors[field] = ["is required in the safety track"]
        elif value is not None and not isinstance(value, bool):
            errors[field] = ["must be true or false"]
    if errors:
        raise ValidationError(errors)
    safety_bin, unsafe_chosen = (None, False)
    if a_safe is not None and b_safe is not None:
        safety_bin, unsafe_chosen = safety_bin_of(chosen=chosen, a_safe=a_safe, b_safe=b_safe)
    try:
        with transaction.atomic():
            locked = Turn.objects.select_for_update().get(pk=turn.pk)
            if locked.status == Turn.Status.ANNOTATED:
                raise Conflict("this turn already has a comparison")
            if locked.status != Turn.Status.READY:
                raise Conflict(f"this turn is {locked.status}, not ready for a comparison")
            if hasattr(locked, "report"):
                raise Conflict("this turn was skipped or reported; it takes no comparison")
            comparison = Comparison.objects.create(
                turn=locked,
                annotator=annotator,
                chosen=chosen,
                strength=strength,
                a_safe=a_safe,
                b_safe=b_safe,
                safety_bin=safety_bin,
                unsafe_chosen=unsafe_chosen,
                time_spent_ms=time_spent_ms,
            )
            locked.status = Turn.Status.ANNOTATED
            locked.save(update_fields=["status"])
    except IntegrityError as error:  # the unique constraint caught a concurrent second submission
        raise Conflict("this turn already has a comparison") from error
    return comparison
