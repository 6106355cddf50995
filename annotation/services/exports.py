"""Writing the export stream (annotation.selectors.exports) to a file: JSONL, Parquet or a datasets directory."""

from pathlib import Path
from typing import Iterable, Iterator

from reward_training.data.tables import dataset_save, parquet_write, rows_table
from reward_training.io import jsonl_write_atomic

# "trl": JSONL, one row a line; "parquet": one Parquet file; "hf-dataset": a datasets save_to_disk directory.
# All three hold the same columns.
EXPORT_FORMATS = ("trl", "parquet", "hf-dataset")


def preference_export_write(path: Path, rows: Iterable[dict], *, format: str = "trl") -> dict[str, int]:
    """Write export rows to `path` in `format` (EXPORT_FORMATS), atomically (a partial file never has the
    final name); returns how many pairs each source gave."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    counts: dict[str, int] = {}

    def counted(rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            counts[row["source"]] = counts.get(row["source"], 0) + 1
            yield row

    if format == "parquet":
        parquet_write(rows_table(counted(rows)), path)
    elif format == "hf-dataset":
        dataset_save(rows_table(counted(rows)), path)
    else:
        jsonl_write_atomic(path, counted(rows))
    return counts
