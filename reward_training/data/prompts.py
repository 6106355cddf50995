"""Prompt files for sampling, rejection sampling and evaluation.

Either plain text, one user prompt a line (all helpfulness prompts), or JSONL with
{"prompt": str | [messages], "safety": bool} (or "track": "safety"); a safety prompt is judged by the
safety reward alone (paper 3.2.3), and evaluation reports its win rates apart from the helpfulness
prompts'. The loop's sets, assets/prompts/*.jsonl, are JSONL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reward_training.data.chat import Message, messages_check


@dataclass(frozen=True)
class PromptItem:
    messages: list[Message]  # ends with the user turn to answer
    safety: bool = False


def prompts_read(path: str | Path) -> list[PromptItem]:
    """Read a prompt file; a malformed line raises ValueError naming its line number."""
    path = Path(path)
    items: list[PromptItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix != ".jsonl":
            items.append(PromptItem(messages=[{"role": "user", "content": line.strip()}]))
            continue
        try:
            row = json.loads(line)
            prompt = row["prompt"]
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else messages_check(prompt)
            if not messages or messages[-1]["role"] != "user":
                raise ValueError("the prompt must end with a user message")
            safety = row.get("safety", False)
            if not isinstance(safety, bool):
                raise ValueError(f'"safety" must be true or false, not {safety!r}')
            items.append(PromptItem(messages=messages, safety=safety or row.get("track") == "safety"))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error
    if not items:
        raise ValueError(f"{path} holds no prompts")
    return items
