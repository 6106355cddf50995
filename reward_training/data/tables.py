"""Preference rows (the export format's dicts) as a dataset: Parquet, or a `datasets` save_to_disk directory.

    table = rows_table(rows)                    # a pyarrow Table: one column per key, one row per pair
    parquet_write(table, "pairs.parquet")       # datasets.load_dataset("parquet", data_files=...) reads it
    dataset_save(table, "pairs-dataset/")       # datasets.load_from_disk reads it

The columns are those of the JSONL export: every key any row has, in the order keys first appear; a
row without a key holds null there (the platform's rows all have every column; a file written by
other code may not). Nested values keep their shape (message lists, sampling settings). Both writes are atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from reward_training.io import directory_write_atomic, file_write_atomic

CHUNK = 5000  # rows turned into Arrow at a time: the Python dicts of one chunk at most sit in memory
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
# The columns of an export with no pairs, which has no rows to infer them from. (pyarrow and pandas read
# such a file; `datasets` 5.2 refuses any Parquet file with no rows.)
EMPTY_SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        ("strength", pa.string()),
        ("margin", pa.float64()),
        ("track", pa.string()),
        ("safety_bin", pa.string()),
        ("source", pa.string()),
        ("batch", pa.string()),
        ("comparison_id", pa.int64()),
    ]
)


def rows_table(rows: Iterable[dict]) -> pa.Table:
    """An Arrow table of the rows. Column types are inferred from every row (a column null in the first
    rows and a struct later becomes the struct)."""
    chunks, chunk = [], []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            chunks.append(_chunk_table(chunk))
            chunk = []
    if not chunk and not chunks:
        return EMPTY_SCHEMA.empty_table()
    if chunk:
        chunks.append(_chunk_table(chunk))
    columns = list(dict.fromkeys(name for table in chunks for name in table.column_names))
    chunks = [_with_columns(table, columns) for table in chunks]
    return pa.concat_tables(chunks, promote_options="permissive")


def _chunk_table(rows: list[dict]) -> pa.Table:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: pa.array([row.get(name) for row in rows]) for name in columns})


def _with_columns(table: pa.Table, columns: list[str]) -> pa.Table:
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows))
    return table.select(columns)


def parquet_write(table: pa.Table, path: str | Path) -> Path:
    """Write the table as one Parquet file, atomically (a partial file never has the final name)."""
    return file_write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def dataset_save(table: pa.Table, directory: str | Path) -> Path:
    """Save the table as a Hugging Face dataset directory (Dataset.save_to_disk), atomically."""
    import datasets  # heavy; only this writer needs it

    dataset = datasets.Dataset(table)
    return directory_write_atomic(directory, lambda tmp: dataset.save_to_disk(str(tmp)))
