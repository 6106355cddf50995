"""Attribute-scored replies (NVIDIA HelpSteer, HelpSteer2): pairs from the scores of replies to one prompt.

Row schema: "prompt", "response", and the attributes "helpfulness", "correctness", "coherence",
"complexity", "verbosity", each a whole score from 0 to 4. HelpSteer2 writes a multi-turn prompt
as one text whose later turns start with "<extra_id_1>User" or "<extra_id_1>Assistant" on their
own line; those become messages.

The replies to one prompt (the same prompt text) are paired, each two whose scores on `attribute`
(helpfulness by default) differ: the higher-scored one is chosen. Strength comes from the score gap
(1: slightly_better, 2: better, 3 or 4: significantly_better). Ties make no pair (counted).
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any, Iterable, Iterator

from reward_training.data.formats.rows import RowError
from reward_training.data.preferences import PreferencePair

ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
GAP_STRENGTHS = {1: "slightly_better", 2: "better"}  # 3 and more: significantly_better
_TURN = re.compile(r"\n?<extra_id_1>(User|Assistant)\n")


def gap_strength(gap: int) -> str:
    return GAP_STRENGTHS.get(gap, "significantly_better")


def prompt_messages(text: str) -> list[dict]:
    """A HelpSteer2 prompt as messages: the first turn is the user's, later ones are marked."""
    parts = _TURN.split(text)
    messages = [{"role": "user", "content": parts[0].strip()}]
    for speaker, content in zip(parts[1::2], parts[2::2]):
        messages.append({"role": "user" if speaker == "User" else "assistant", "content": content.strip()})
    if messages[-1]["role"] != "user":
        raise ValueError("the prompt's last turn is not the user's")
    return messages


def helpsteer_pairs(
    rows: Iterable[tuple[int, Any]], *, attribute: str = "helpfulness", ties: list[int] | None = None
) -> Iterator[tuple[int, PreferencePair]]:
    """(row number of the chosen reply, pair) for each two differently scored replies to one prompt.
    Ties are counted into `ties` (one entry per tied pair: the first reply's row). Raises RowError."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {', '.join(ATTRIBUTES)}")
    by_prompt: dict[str, list[tuple[int, str, int]]] = {}
    for number, row in rows:
        if not isinstance(row, dict):
            raise RowError(number, "expected an object")
        for key in ("prompt", "response"):
            if not isinstance(row.get(key), str):
                raise RowError(number, f'"{key}" must be a text')
        score = row.get(attribute)
        if (
            isinstance(score, bool)
            or not isinstance(score, (int, float))
            or not float(score).is_integer()
            or not 0 <= score <= 4
        ):
            raise RowError(number, f'"{attribute}" must be a whole score from 0 to 4, not {score!r}')
        by_prompt.setdefault(row["prompt"], []).append((number, row["response"], int(score)))
    for prompt_text, replies in by_prompt.items():
        try:
            prompt = tuple(prompt_messages(prompt_text))
        except ValueError as error:
            raise RowError(replies[0][0], str(error)) from error
        for a, b in combinations(replies, 2):
            if a[2] == b[2]:
                if ties is not None:
                    ties.append(a[0])
                continue
            better, worse = (a, b) if a[2] > b[2] else (b, a)
            yield (
                better[0],
                PreferencePair(
                    prompt=prompt, chosen=better[1], rejected=worse[1], strength=gap_strength(better[2] - worse[2])
                ),
            )
