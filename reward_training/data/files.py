"""Reading data files that may be gzipped."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO


def _gzipped(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def text_open(path: str | Path) -> TextIO:
    """Open a UTF-8 text file for reading, gzipped or not (told by its magic bytes, not its name)."""
    path = Path(path)
    return gzip.open(path, "rt", encoding="utf-8") if _gzipped(path) else path.open("rt", encoding="utf-8")


def binary_open(path: str | Path) -> BinaryIO:
    """Open a file for reading its bytes, gunzipped when it is gzipped (told by its magic bytes)."""
    path = Path(path)
    return gzip.open(path, "rb") if _gzipped(path) else path.open("rb")


class LineTooLong(ValueError):
    """A line over the reader's byte limit."""


def lines_read(path: str | Path, *, max_line_bytes: int | None = None) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each line of a UTF-8 file, gzipped or not, streaming.

    Every failure is a ValueError naming the file and the line: a line over `max_line_bytes`
    (LineTooLong, raised after reading at most that many bytes of it, so a huge line never sits in
    memory), bytes that are not UTF-8, and a gzip stream that is truncated or corrupt.
    """
    path = Path(path)
    limit = -1 if max_line_bytes is None else max_line_bytes + 1
    with binary_open(path) as stream:
        number = 0
        while True:
            number += 1
            try:
                raw = stream.readline(limit)
            except (EOFError, gzip.BadGzipFile, zlib.error) as error:
                reason = str(error) or type(error).__name__
                raise ValueError(
                    f"{path.name}, line {number}: the gzip file is truncated or corrupt ({reason})"
                ) from error
            if not raw:
                return
            if max_line_bytes is not None and len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise LineTooLong(f"{path.name}, line {number}: longer than {max_line_bytes:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path.name}, line {number}: not UTF-8 text (byte {error.start + 1} of the line "
                    f"is 0x{raw[error.start]:02x})"
                ) from error
            yield number, text
