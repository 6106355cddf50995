from annotation.models import TurnReport


def turn_reports_open_count() -> int:
    """Skipped or reported turns no admin has marked resolved yet."""
    return TurnReport.objects.filter(resolved=False).count()
