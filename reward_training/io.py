"""Atomic writes: a directory (a model, a checkpoint) or a file (JSONL, Parquet) appears whole or not at
all under its name, and survives a crash (fsynced before the rename).

    from reward_training.io import directory_write_atomic, jsonl_write_atomic
    directory_write_atomic("models/sft", lambda tmp: model.save_pretrained(tmp))
    jsonl_write_atomic("export.jsonl", rows)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable


def fsync_tree(path: str | Path) -> None:
    """fsync every file directly in `path`, then `path` itself (a file or a directory)."""
    path = Path(path)
    for item in [*path.iterdir(), path] if path.is_dir() else [path]:
        if item.is_file() or item == path:
            try:
                fd = os.open(item, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                pass


def directory_write_atomic(output_dir: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_dir), fsync it, then rename it to output_dir, replacing an earlier one.

    A kill at any moment leaves the earlier directory (or none) or the new one, never a mix.
    """
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        fsync_tree(tmp)
        old = None
        if output_dir.exists():
            old = output_dir.parent / f".{output_dir.name}.old-{os.getpid()}"
            os.replace(output_dir, old)
        os.replace(tmp, output_dir)
        fsync_tree(output_dir.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output_dir


def file_write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_file), fsync it, then rename it to `path`, replacing an earlier file.

    A kill at any moment leaves the earlier file (or none) or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        fsync_tree(tmp)
        os.replace(tmp, path)
        fsync_tree(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def jsonl_write_atomic(path: str | Path, rows: Iterable[dict]) -> int:
    """Write one JSON object a line (UTF-8, unescaped) with file_write_atomic; returns the number of rows.

    `rows` may be a generator: it is consumed once, as the file is written.
    """
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        with tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1

    file_write_atomic(path, write)
    return count
