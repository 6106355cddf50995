"""The Anthropic HH-RLHF format: {"chosen": text, "rejected": text}, each a whole dialogue

    "\n\nHuman: ...\n\nAssistant: ...\n\nHuman: ...\n\nAssistant: ..."

The two dialogues share every turn but the last reply. The shared history is their longest
common prefix that ends with "\n\nAssistant:" — not the last "Assistant:" of each side, since a
reply may itself contain "Assistant:", and a reply may be empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from reward_training.data.chat import Message
from reward_training.data.files import lines_read

ASSISTANT_MARK = "\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")


@dataclass(frozen=True)
class HHPair:
    prompt: list[Message]  # the shared history, ending with a user message
    chosen: str
    rejected: str


def hh_split(chosen: str, rejected: str) -> HHPair:
    """Split an HH pair into its shared history (as messages) and the two final replies."""
    common = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        common += 1
    end = chosen.rfind(ASSISTANT_MARK, 0, common)  # the mark must lie wholly inside the common prefix
    if end < 0:
        raise ValueError('the two dialogues share no history ending with "\\n\\nAssistant:"')
    history_end = end + len(ASSISTANT_MARK)
    prompt = hh_messages(chosen[:end])
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the shared history does not end with a Human turn")
    return HHPair(prompt=prompt, chosen=chosen[history_end:].strip(), rejected=rejected[history_end:].strip())


def hh_messages(text: str) -> list[Message]:
    """Parse "\n\nHuman: ...\n\nAssistant: ..." into messages."""
    parts = _TURN.split(text)
    if parts[0].strip():
        raise ValueError('the dialogue does not start with "\\n\\nHuman:"')
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[speaker], "content": content.strip()} for speaker, content in zip(parts[1::2], parts[2::2])]


def hh_render(messages: list[Message]) -> str:
    """The HH text of a message list (system messages are not part of the HH format)."""
    speakers = {"user": "Human", "assistant": "Assistant"}
    return "".join(f"\n\n{speakers[m['role']]}: {m['content']}" for m in messages if m["role"] != "system")


def hh_read(path: str | Path, *, max_line_bytes: int | None = None) -> Iterator[tuple[int, HHPair]]:
    """Yield (line number, pair) for each line of an HH file, gzipped or not.

    A malformed line, or one over `max_line_bytes`, raises ValueError naming its line number.
    """
    path = Path(path)
    for number, line in lines_read(path, max_line_bytes=max_line_bytes):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("chosen"), str)
                or not isinstance(row.get("rejected"), str)
            ):
                raise ValueError('expected an object with string "chosen" and "rejected"')
            yield number, hh_split(row["chosen"], row["rejected"])
        except (ValueError, json.JSONDecodeError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error
