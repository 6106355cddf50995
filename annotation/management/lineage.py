"""What a trained model came from, read off the data files it was trained on (for the registry)."""

import json
from pathlib import Path

from reward_training.data.files import text_open


def data_lineage(data_files: list[str]) -> dict:
    """Batches and sources named in export-format files (HH files have neither)."""
    batches, sources = set(), set()
    for path in data_files:
        with text_open(path) as lines:
            for line in lines:
                if not line.strip():
                    continue
                row = json.loads(line)
                if row.get("batch"):
                    batches.add(row["batch"])
                if row.get("source"):
                    sources.add(row["source"])
    return {
        "data_files": [str(Path(p).resolve()) for p in data_files],
        "batches": sorted(batches),
        "sources": sorted(sources),
    }
