"""Atomic writes: a directory (a model, a checkpoint) appears whole or not at all, and survives a crash.

    from reward_training.io import directory_write_atomic, fsync_tree
    directory_write_atomic("models/sft", lambda tmp: model.save_pretrained(tmp))
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


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
