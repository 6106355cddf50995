"""Rows of a data file: JSONL (gzipped or not), a JSON array, or Parquet, one dict a row.

- JSONL is streamed line by line with reward_training.data.files.lines_read, so a line over the byte
  limit is refused before it is read whole, and every failure names its line (the unit is "line").
- A JSON array is read with the json module (the unit is "row", counted from 1). `datasets`' JSON
  loader is not used here: where a column holds a text in one row and a list in another it turns both
  into JSON-encoded strings, and a bad row would then import as text instead of being refused.
- Parquet is read through `datasets` (streaming, so no cache is written and rows arrive one at a
  time; the unit is "row").

The container is told by the file's first bytes, not its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from reward_training.data.files import lines_read, text_open

PARQUET_MAGIC = b"PAR1"


class RowError(ValueError):
    """A row the reader cannot take, with its number; the caller names the file and the unit."""

    def __init__(self, number: int, reason: str):
        super().__init__(reason)
        self.number, self.reason = number, reason


def container_of(path: str | Path) -> str:
    """The container, "parquet", "json" (one array) or "jsonl", from the file's first bytes."""
    path = Path(path)
    with path.open("rb") as probe:
        if probe.read(4) == PARQUET_MAGIC:
            return "parquet"
    with text_open(path) as text:
        try:
            head = text.read(4096).lstrip()
        except (UnicodeDecodeError, EOFError, OSError):
            return "jsonl"  # lines_read names the line that is not UTF-8, or where the gzip breaks
    return "json" if head.startswith("[") else "jsonl"


def unit_of(container: str) -> str:
    return "line" if container == "jsonl" else "row"


def rows_read(path: str | Path, *, max_line_bytes: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line or row number, row) for each row of the file; a row is whatever the file holds there
    (the formats check that it is an object). Raises RowError for a line that is not JSON, and
    ValueError naming the file for a file that cannot be read at all."""
    path = Path(path)
    container = container_of(path)
    if container == "parquet":
        yield from _parquet_rows(path)
    elif container == "json":
        yield from _json_rows(path)
    else:
        for number, line in lines_read(path, max_line_bytes=max_line_bytes):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise RowError(number, f"not JSON ({error})") from error


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        with text_open(path) as text:
            rows = json.load(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name}: not a JSON array ({error})") from error
    if not isinstance(rows, list):
        raise ValueError(f"{path.name}: expected a JSON array with one object a row")
    yield from enumerate(rows, start=1)


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import datasets  # a heavy import, needed only for Parquet

    try:
        dataset = datasets.load_dataset("parquet", data_files=str(path), split="train", streaming=True)
        yield from enumerate(dataset, start=1)
    except Exception as error:  # noqa: BLE001 - pyarrow and datasets raise many types for a bad file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path.name}: cannot be read as Parquet ({reason})") from error
