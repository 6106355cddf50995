from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotation.errors import Conflict
from annotation.models import Turn, TurnReport

REPORT_NOTE_MAX_CHARS = 2000


def turn_report_create(*, turn: Turn, annotator, reason: str, note: str = "") -> TurnReport:
    """Skip or report a turn that has no comparison. The turn is left as it is; the dialogue ends there.

    "other" needs a note saying what is wrong. A second report of one turn is a 409.
    """
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if reason not in TurnReport.Reason.values:
        errors["reason"] = [f"must be one of {', '.join(TurnReport.Reason.values)}"]
    if reason == TurnReport.Reason.OTHER and not note:
        errors["note"] = ['say what is wrong when the reason is "other"']
    if len(note) > REPORT_NOTE_MAX_CHARS:
        errors["note"] = [f"must be at most {REPORT_NOTE_MAX_CHARS} characters"]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            locked = Turn.objects.select_for_update().get(pk=turn.pk)
            if locked.status == Turn.Status.ANNOTATED:
                raise Conflict("this turn already has a comparison")
            if TurnReport.objects.filter(turn=locked).exists():
                raise Conflict("this turn was already skipped or reported")
            return TurnReport.objects.create(turn=locked, annotator=annotator, reason=reason, note=note)
    except IntegrityError as error:  # a concurrent second report
        raise Conflict("this turn was already skipped or reported") from error
