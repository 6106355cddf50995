from annotation.management.base import JsonCommand, progress
from annotation.models import Track
from annotation.services.imports import FORMATS, preferences_import


class Command(JsonCommand):
    help = ("Import open-source preference pairs (Anthropic HH or the export format), atomically and deduplicated; "
            "a bad line refuses the whole file, naming the line.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--source", required=True, help='a name for the data set, e.g. "anthropic-hh-harmless"')
        parser.add_argument("--track", required=True, choices=Track.values)
        parser.add_argument("--skip-empty", action="store_true",
                            help="leave out pairs with an empty reply (listed in skipped_empty) instead of refusing "
                                 "the file; Anthropic HH has a few")

    def run(self, *, file, format, source, track, skip_empty, **_):
        result = preferences_import(
            path=file, format=format, source=source, track=track, skip_empty=skip_empty,
            progress=lambda rows: progress(rows, desc="reading", unit=" pairs"),
        )
        return {"file": file, "source": source, "track": track, **result}
