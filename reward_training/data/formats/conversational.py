"""Formats whose rows are one pair each: Anthropic HH, TRL, binarized message lists, RewardBench.

- "hh-rlhf": {"chosen": dialogue text, "rejected": dialogue text} (reward_training.data.hh); unrated.
- "trl": TRL's preference rows, explicit or implicit prompt, texts or conversations, optional
  "margin" (reward_training.data.preferences.trl_row_parse).
- "binarized": UltraFeedback-binarized style, "chosen" and "rejected" whole message lists whose
  shared leading messages are the prompt (its "prompt" string column and scores are not needed);
  unrated.
- "rewardbench": {"prompt": text, "chosen": text, "rejected": text, "subset": name, ...}; unrated.
"""

from __future__ import annotations

from typing import Any

from reward_training.data.chat import messages_check, messages_prompt_split
from reward_training.data.hh import hh_split
from reward_training.data.preferences import PreferencePair, trl_row_parse


def _object(row: Any, *keys: str) -> dict:
    if not isinstance(row, dict):
        raise ValueError("expected an object")
    missing = [key for key in keys if key not in row]
    if missing:
        raise ValueError(f"missing {', '.join(repr(key) for key in missing)}")
    return row


def _text(row: dict, key: str) -> str:
    if not isinstance(row[key], str):
        raise ValueError(f'"{key}" must be a text')
    return row[key]


def hh_row_parse(row: Any) -> PreferencePair:
    row = _object(row, "chosen", "rejected")
    pair = hh_split(_text(row, "chosen"), _text(row, "rejected"))
    return PreferencePair(prompt=tuple(pair.prompt), chosen=pair.chosen, rejected=pair.rejected)


def trl_row(row: Any) -> PreferencePair:
    return trl_row_parse(_object(row, "chosen", "rejected"))


def binarized_row_parse(row: Any) -> PreferencePair:
    row = _object(row, "chosen", "rejected")
    sides = []
    for key in ("chosen", "rejected"):
        if not isinstance(row[key], list):
            raise ValueError(f'"{key}" must be a message list (the whole conversation)')
        sides.append(messages_check(row[key]))
    prompt, chosen, rejected = messages_prompt_split(*sides)
    return PreferencePair(prompt=tuple(prompt), chosen=chosen, rejected=rejected)


def rewardbench_row_parse(row: Any) -> PreferencePair:
    row = _object(row, "prompt", "chosen", "rejected", "subset")
    prompt = _text(row, "prompt")
    if not prompt.strip():
        raise ValueError("the prompt is empty")
    _text(row, "subset")
    return PreferencePair(
        prompt=({"role": "user", "content": prompt},), chosen=_text(row, "chosen"), rejected=_text(row, "rejected")
    )
