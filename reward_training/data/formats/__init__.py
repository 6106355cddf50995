"""The open-source preference formats the importer reads, and the detection of a file's format.

    stream = pairs_read(path, "auto")           # or a name of FORMATS
    stream.format, stream.reason                # which format, and why it was chosen
    for number, pair in stream: ...             # number: the line (JSONL) or row (JSON, Parquet)
    stream.filtered                             # pairs left out by the format's filter, by reason

Each format lives in its own module (conversational, shp, oasst, helpsteer) with its schema and its
strength mapping documented there. A file may be JSONL (gzipped or not), a JSON array or Parquet
(formats.rows). Every failure is a ValueError naming the file and the line or row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from reward_training.data.formats import conversational, helpsteer, oasst, shp
from reward_training.data.formats.rows import RowError, container_of, rows_read, unit_of
from reward_training.data.preferences import PreferencePair

FORMATS = ("hh-rlhf", "trl", "binarized", "shp", "oasst", "helpsteer", "rewardbench")


@dataclass(frozen=True)
class FormatOptions:
    min_ratio: float | None = None  # shp: leave out pairs whose score ratio is below this
    attribute: str = "helpfulness"  # helpsteer: the score that ranks replies
    rank_strength: bool = True  # oasst: strength from the rank gap (else unrated)


def format_detect(row: Any) -> tuple[str, str]:
    """(format, the reason in a few words) from a file's first row. Raises ValueError when none fits."""
    keys = set(row) if isinstance(row, dict) else set()
    if {"human_ref_A", "human_ref_B"} <= keys:
        return "shp", 'columns "human_ref_A" and "human_ref_B" (SHP)'
    if {"message_id", "parent_id", "role", "text"} <= keys:
        return "oasst", 'columns "message_id", "parent_id", "role" and "text" (an OpenAssistant message table)'
    if "message_tree_id" in keys and isinstance(row.get("prompt"), dict):
        return "oasst", '"message_tree_id" and a nested "prompt" message (an OpenAssistant tree)'
    if {"prompt", "response"} <= keys and keys & set(helpsteer.ATTRIBUTES):
        return "helpsteer", 'columns "prompt", "response" and attribute scores (HelpSteer)'
    if {"prompt", "chosen", "rejected", "subset"} <= keys:
        return "rewardbench", 'columns "prompt", "chosen", "rejected" and "subset" (RewardBench)'
    if {"chosen", "rejected"} <= keys:
        chosen, prompt = row["chosen"], row.get("prompt")
        if isinstance(chosen, str) and prompt is None and chosen.lstrip().startswith("Human:"):
            return "hh-rlhf", '"chosen" and "rejected" dialogues in "Human: ... Assistant: ..." text (Anthropic HH)'
        starts = chosen[0].get("role") if isinstance(chosen, list) and chosen and isinstance(chosen[0], dict) else None
        if starts in ("system", "user") and not isinstance(prompt, list):
            return "binarized", '"chosen" and "rejected" whole conversations whose shared start is the prompt'
        return "trl", '"chosen" and "rejected" with a "prompt" or as texts (TRL)'
    raise ValueError(
        f"no format fits the first row's columns ({', '.join(sorted(keys)) or 'none'}); "
        f"name one with --format ({', '.join(FORMATS)})"
    )


@dataclass
class PairStream:
    """The pairs of one file in one format; iterate it once."""

    path: Path
    format: str
    reason: str  # why this format (for "auto"); "named" when it was given
    unit: str  # "line" or "row"
    pairs: Iterator[tuple[int, PreferencePair]] = field(repr=False)
    filtered: dict[str, list[int]] = field(default_factory=dict)  # reason -> line or row numbers

    def __iter__(self) -> Iterator[tuple[int, PreferencePair]]:
        try:
            yield from self.pairs
        except RowError as error:
            raise ValueError(f"{self.path.name}, {self.unit} {error.number}: {error.reason}") from error


def pairs_read(
    path: str | Path, data_format: str, *, options: FormatOptions = FormatOptions(), max_line_bytes: int | None = None
) -> PairStream:
    """The pairs of a file in `data_format` ("auto": detected from its first row)."""
    path = Path(path)
    unit = unit_of(container_of(path))
    reason = "named"
    if data_format == "auto":
        try:
            first = next(iter(rows_read(path, max_line_bytes=max_line_bytes)), (0, None))[1]
        except RowError as error:
            raise ValueError(f"{path.name}, {unit} {error.number}: {error.reason}") from error
        if first is None:
            raise ValueError(f"{path.name}: the file holds no rows")
        data_format, reason = format_detect(first)
    if data_format not in FORMATS:
        raise ValueError(f"unknown format {data_format!r}; expected one of {', '.join(FORMATS)} or auto")
    rows = rows_read(path, max_line_bytes=max_line_bytes)
    filtered: dict[str, list[int]] = {}
    if data_format == "oasst":
        pairs = oasst.oasst_pairs(rows, rank_strength=options.rank_strength)
    elif data_format == "helpsteer":
        pairs = helpsteer.helpsteer_pairs(rows, attribute=options.attribute, ties=filtered.setdefault("ties", []))
    elif data_format == "shp":
        below = filtered.setdefault("below_min_ratio", []) if options.min_ratio is not None else []
        pairs = _each_row(rows, lambda row: shp.shp_row_parse(row, min_ratio=options.min_ratio), below)
    else:
        parse = {
            "hh-rlhf": conversational.hh_row_parse,
            "trl": conversational.trl_row,
            "binarized": conversational.binarized_row_parse,
            "rewardbench": conversational.rewardbench_row_parse,
        }[data_format]
        pairs = _each_row(rows, parse, [])
    return PairStream(path=path, format=data_format, reason=reason, unit=unit, pairs=pairs, filtered=filtered)


def _each_row(
    rows: Iterable[tuple[int, Any]], parse: Callable[[Any], PreferencePair | None], left_out: list[int]
) -> Iterator[tuple[int, PreferencePair]]:
    """Parse row by row; a row the parse returns None for is left out and its number kept."""
    for number, row in rows:
        try:
            pair = parse(row)
        except (ValueError, TypeError, KeyError) as error:
            raise RowError(number, str(error)) from error
        if pair is None:
            left_out.append(number)
        else:
            yield number, pair
