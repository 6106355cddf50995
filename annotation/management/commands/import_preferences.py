import sys

from annotation.management.base import JsonCommand, progress
from annotation.models import Track
from annotation.services.imports import FORMATS, preferences_import
from reward_training.data.formats import FormatOptions
from reward_training.data.formats.helpsteer import ATTRIBUTES


class Command(JsonCommand):
    help = (
        "Import open-source preference pairs (HH, TRL, binarized message lists, SHP, OpenAssistant trees, "
        "HelpSteer scores, RewardBench) from JSONL, JSON or Parquet, atomically and deduplicated; a bad line "
        "or row refuses the whole file, naming it. --format auto detects the format and says which."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--source", required=True, help='a name for the data set, e.g. "anthropic-hh-harmless"')
        parser.add_argument("--track", required=True, choices=Track.values)
        parser.add_argument(
            "--skip-empty",
            action="store_true",
            help="leave out pairs with an empty reply (listed in skipped_empty) instead of refusing "
            "the file; Anthropic HH has a few",
        )
        parser.add_argument(
            "--min-ratio",
            type=float,
            help="shp: leave out pairs whose score ratio (preferred over other) is below this; "
            "SHP's authors train on 2 and above",
        )
        parser.add_argument(
            "--attribute",
            default="helpfulness",
            choices=ATTRIBUTES,
            help="helpsteer: the score that ranks the replies to one prompt (default helpfulness)",
        )
        parser.add_argument(
            "--unrated",
            action="store_true",
            help="oasst: import ranked pairs unrated instead of taking strength from the rank gap",
        )

    def run(self, *, file, format, source, track, skip_empty, min_ratio, attribute, unrated, **_):
        result = preferences_import(
            path=file,
            format=format,
            source=source,
            track=track,
            skip_empty=skip_empty,
            options=FormatOptions(min_ratio=min_ratio, attribute=attribute, rank_strength=not unrated),
            progress=lambda rows: progress(rows, desc="reading", unit=" pairs"),
        )
        if format == "auto":
            print(f"format: {result['format']} ({result['detected']})", file=sys.stderr)
        return {"file": file, "source": source, "track": track, **result}
