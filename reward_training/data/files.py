"""Reading data files that may be gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TextIO


def text_open(path: str | Path) -> TextIO:
    """Open a UTF-8 text file for reading, gzipped or not (told by its magic bytes, not its name)."""
    path = Path(path)
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gzipped else path.open("rt", encoding="utf-8")
