from annotation.management.base import JsonCommand, progress
from annotation.models import Track
from annotation.services.imports import FORMATS, preferences_import


class Command(JsonCommand):
    help = "Import open-source preference pairs (Anthropic HH or the export format), atomically and deduplicated."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--source", required=True, help='a name for the data set, e.g. "anthropic-hh-harmless"')
        parser.add_argument("--track", required=True, choices=Track.values)

    def run(self, *, file, format, source, track, **_):
        result = preferences_import(
            path=file, format=format, source=source, track=track,
            progress=lambda rows: progress(rows, desc="reading", unit=" pairs"),
        )
        return {"file": file, "source": source, "track": track, **result}
