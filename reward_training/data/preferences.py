"""Preference pairs: one typed record for every source the reward models train on.

Two file formats are read (docs/architecture.md, "The export format"):
- "trl": the platform's export, one JSON object a line with conversational `prompt`, `chosen`,
  `rejected` and metadata (strength, margin, track, safety_bin, source, ...);
- "hh-rlhf": Anthropic HH-RLHF, {"chosen": dialogue text, "rejected": dialogue text}, gzip or not.
  Imported as unrated (strength None, margin 0).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from reward_training.data.chat import Message, messages_check, messages_prompt_split, text_prompt_split
from reward_training.data.files import lines_read
from reward_training.data.hh import hh_read
from reward_training.reward.margins import STRENGTHS, strength_of_margin

FORMATS = ("trl", "hh-rlhf")
TRACKS = ("helpfulness", "safety")

# Safety bins (paper 3.2.1) and the per-response safe labels they imply: (chosen_safe, rejected_safe).
SAFETY_BINS = {
    "chosen_safe_other_unsafe": (True, False),
    "both_safe": (True, True),
    "both_unsafe": (False, False),
}


@dataclass(frozen=True)
class PreferencePair:
    """One comparison: a shared history and two final assistant replies, the chosen one first."""

    prompt: tuple[Message, ...]  # the shared history, ending with a user message
    chosen: str
    rejected: str
    strength: str | None = None  # one of STRENGTHS; None when unrated (imported data)
    track: str | None = None  # "helpfulness" | "safety" | None (unknown)
    safety_bin: str | None = None  # a key of SAFETY_BINS, or None
    source: str = "platform"
    pair_id: str = ""  # the comparison id where the source has one, else the content hash

    @property
    def content_hash(self) -> str:
        """A stable hash of the texts (history, chosen, rejected): the same pair read twice gets the same hash."""
        blob = json.dumps([list(self.prompt), self.chosen, self.rejected], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def chosen_safe(self) -> bool | None:
        return SAFETY_BINS[self.safety_bin][0] if self.safety_bin else None

    @property
    def rejected_safe(self) -> bool | None:
        return SAFETY_BINS[self.safety_bin][1] if self.safety_bin else None


def preferences_read(
    path: str | Path, data_format: str, *, source: str | None = None, track: str | None = None
) -> list[PreferencePair]:
    """Read a whole preference file. `source` / `track` fill in what the file does not say
    (HH files say neither: source defaults to "hh-rlhf", track stays None unless given).
    A malformed line raises ValueError naming the file and line."""
    return [pair for _, pair in preferences_lines(path, data_format, source=source, track=track)]


def preferences_lines(
    path: str | Path,
    data_format: str,
    *,
    source: str | None = None,
    track: str | None = None,
    max_line_bytes: int | None = None,
) -> Iterator[tuple[int, PreferencePair]]:
    """Stream a preference file as (line number, pair), as preferences_read reads it; a line over
    `max_line_bytes` is refused (ValueError naming it) before it is read whole."""
    if data_format == "trl":
        return _trl_lines(Path(path), source=source, track=track, max_line_bytes=max_line_bytes)
    if data_format == "hh-rlhf":
        return _hh_lines(Path(path), source=source or "hh-rlhf", track=track, max_line_bytes=max_line_bytes)
    raise ValueError(f"unknown data format {data_format!r}; expected one of {', '.join(FORMATS)}")


def _hh_lines(
    path: Path, *, source: str, track: str | None, max_line_bytes: int | None
) -> Iterator[tuple[int, PreferencePair]]:
    for number, hh in hh_read(path, max_line_bytes=max_line_bytes):
        pair = PreferencePair(
            prompt=tuple(hh.prompt), chosen=hh.chosen, rejected=hh.rejected, track=track, source=source
        )
        yield number, _with_id(pair, None)


def _trl_lines(
    path: Path, *, source: str | None, track: str | None, max_line_bytes: int | None
) -> Iterator[tuple[int, PreferencePair]]:
    for number, line in lines_read(path, max_line_bytes=max_line_bytes):
        if not line.strip():
            continue
        try:
            yield number, trl_row_parse(json.loads(line), source=source, track=track)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error


def trl_row_parse(row: Any, *, source: str | None = None, track: str | None = None) -> PreferencePair:
    """One TRL preference row as a PreferencePair. Raises ValueError on anything malformed.

    Reads every TRL preference shape: an explicit prompt (a string or a message list) or an implicit one
    (no "prompt": the shared start of "chosen" and "rejected", as texts or whole conversations), and our
    export's metadata. A row with a "strength" key keeps it (null: unrated); a row with only a numeric
    "margin" (TRL's optional column) gets the strength nearest that margin in the "small" table.
    """
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    prompt, chosen, rejected = _trl_texts(row)
    margin = row.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
        raise ValueError(f"margin {margin!r} is not a number")
    if "strength" in row:
        strength = row["strength"]
    else:
        strength = None if margin is None else strength_of_margin(float(margin))
    if strength is not None and strength not in STRENGTHS:
        raise ValueError(f"unknown strength {strength!r}")
    safety_bin = row.get("safety_bin")
    if safety_bin is not None and safety_bin not in SAFETY_BINS:
        raise ValueError(f"unknown safety_bin {safety_bin!r}")
    row_track = row.get("track") or track
    if row_track is not None and row_track not in TRACKS:
        raise ValueError(f"unknown track {row_track!r}")
    pair = PreferencePair(
        prompt=tuple(prompt),
        chosen=chosen,
        rejected=rejected,
        strength=strength,
        track=row_track,
        safety_bin=safety_bin,
        source=str(row.get("source") or source or "platform"),
    )
    return _with_id(pair, row.get("comparison_id"))


def _trl_texts(row: dict) -> tuple[list[Message], str, str]:
    """(prompt messages, chosen reply, rejected reply) of a TRL row, explicit or implicit prompt."""
    if row.get("prompt") is None:
        chosen, rejected = row.get("chosen"), row.get("rejected")
        if isinstance(chosen, str) and isinstance(rejected, str):
            prompt, chosen, rejected = text_prompt_split(chosen, rejected)
            return [{"role": "user", "content": prompt}], chosen, rejected
        if isinstance(chosen, list) and isinstance(rejected, list):
            return messages_prompt_split(messages_check(chosen), messages_check(rejected))
        raise ValueError('no "prompt", and "chosen" and "rejected" are not both texts or both message lists')
    if isinstance(row["prompt"], str):
        prompt = [{"role": "user", "content": row["prompt"]}] if row["prompt"].strip() else []
    else:
        prompt = messages_check(row["prompt"]) if isinstance(row["prompt"], list) else None
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the prompt must be a text or a non-empty message list ending with a user message")
    return prompt, _reply(row, "chosen"), _reply(row, "rejected")


def _reply(row: dict, key: str) -> str:
    value = row.get(key)
    if isinstance(value, str):  # a plain-text reply is accepted too
        return value
    messages = messages_check(value or [])
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise ValueError(f'"{key}" must hold exactly one assistant message')
    return messages[0]["content"]


def _with_id(pair: PreferencePair, comparison_id: Any) -> PreferencePair:
    from dataclasses import replace

    pair_id = f"{pair.source}:{comparison_id}" if comparison_id is not None else f"sha:{pair.content_hash}"
    return replace(pair, pair_id=pair_id)
