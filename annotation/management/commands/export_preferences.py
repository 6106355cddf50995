from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand, progress
from annotation.models import Batch, Track
from annotation.selectors.exports import preference_export_rows
from annotation.services.exports import EXPORT_FORMATS, preference_export_write


class Command(JsonCommand):
    help = (
        "Write comparisons and imported pairs in the export format: JSONL (trl, streamed), one Parquet file "
        "(parquet) or a Hugging Face dataset directory (hf-dataset, save_to_disk), with the same columns."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="append", dest="batches", help="repeatable")
        parser.add_argument("--track", choices=Track.values)
        parser.add_argument(
            "--source", action="append", dest="sources", help='repeatable; "platform" is our own comparisons'
        )
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--output", required=True, help="a file; for hf-dataset, a directory (replaced whole)")

    def run(self, *, batches, track, sources, format, output, **_):
        if batches:
            missing = sorted(set(batches) - set(Batch.objects.filter(name__in=batches).values_list("name", flat=True)))
            if missing:
                raise ValidationError({"batch": [f"unknown batch(es): {', '.join(missing)}"]})
        output = Path(output)
        counts = preference_export_write(
            output,
            progress(
                preference_export_rows(batches=batches, track=track, sources=sources), desc="exporting", unit=" pairs"
            ),
            format=format,
        )
        return {"output": str(output), "pairs": sum(counts.values()), "by_source": counts}
