"""Stanford Human Preferences (SHP, SHP-2): two Reddit replies to one post, with their scores.

Row schema: "history" (the post), "human_ref_A", "human_ref_B" (the replies), "score_A", "score_B"
(their net upvotes) and "labels" (1 when A is preferred, 0 when B is). Other columns (post_id, domain,
upvote_ratio, c_root_id_*, created_at_utc_*, seconds_difference, score_ratio) are not needed.

Strength comes from the score ratio r = preferred score / other score (SHP's own measure of how clear
the preference is; its authors train on pairs with r >= 2):

    r >= 8: significantly_better    4 <= r < 8: better    2 <= r < 4: slightly_better    r < 2: negligibly_better

A score of 0 or less for the other reply counts as r = infinity. With `min_ratio`, pairs below it are
left out (counted, not imported).
"""

from __future__ import annotations

import math
from typing import Any

from reward_training.data.preferences import PreferencePair

# (lowest ratio, strength), strongest first
RATIO_STRENGTHS = ((8.0, "significantly_better"), (4.0, "better"), (2.0, "slightly_better"), (1.0, "negligibly_better"))


def ratio_strength(ratio: float) -> str:
    """The strength of a score ratio (>= 1) by the thresholds above."""
    return next(strength for lowest, strength in RATIO_STRENGTHS if ratio >= lowest)


def shp_row_parse(row: Any, *, min_ratio: float | None = None) -> PreferencePair | None:
    """The pair of one SHP row, or None when its score ratio is below `min_ratio`. Raises ValueError."""
    if not isinstance(row, dict):
        raise ValueError("expected an object")
    missing = [k for k in ("history", "human_ref_A", "human_ref_B", "score_A", "score_B", "labels") if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    for key in ("history", "human_ref_A", "human_ref_B"):
        if not isinstance(row[key], str):
            raise ValueError(f'"{key}" must be a text')
    for key in ("score_A", "score_B"):
        if isinstance(row[key], bool) or not isinstance(row[key], (int, float)):
            raise ValueError(f'"{key}" must be a number')
    if isinstance(row["labels"], bool) or row["labels"] not in (0, 1):
        raise ValueError(f'"labels" must be 1 (A preferred) or 0 (B preferred), not {row["labels"]!r}')
    if not row["history"].strip():
        raise ValueError('the post ("history") is empty')
    preferred, other = ("A", "B") if row["labels"] == 1 else ("B", "A")
    high, low = row[f"score_{preferred}"], row[f"score_{other}"]
    if high < low:
        raise ValueError(f'"labels" prefers {preferred}, but score_{preferred} ({high}) is below score_{other} ({low})')
    ratio = math.inf if low <= 0 else high / low
    if min_ratio is not None and ratio < min_ratio:
        return None
    return PreferencePair(
        prompt=({"role": "user", "content": row["history"]},),
        chosen=row[f"human_ref_{preferred}"],
        rejected=row[f"human_ref_{other}"],
        strength=ratio_strength(ratio),
    )
