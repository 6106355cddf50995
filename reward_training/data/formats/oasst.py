"""OpenAssistant conversation trees (oasst1, oasst2): ranked sibling replies become pairs.

Two layouts are read:
- the flat message table of the Hugging Face datasets, one message a row: "message_id",
  "parent_id" (null for the tree's first prompt), "role" ("prompter" | "assistant"), "text",
  "rank" (0 is best among siblings; null when unranked), "deleted", plus columns not needed here
  (message_tree_id, lang, review_result, labels, ...);
- the tree export, one tree a row: {"message_tree_id", "prompt": message} where each message holds
  its "replies" (the same fields, nested).

For every prompter message, each two of its assistant replies with different ranks make a pair, the
better-ranked one chosen; the prompt is the conversation from the tree's root down to that message.
Deleted or unranked replies take no part. Strength comes from the rank gap (1: slightly_better,
2: better, 3 or more: significantly_better), or, with `rank_strength=False`, stays unrated (the gap
between two adjacent ranks says nothing of how much better the reply is).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Iterable, Iterator

from reward_training.data.formats.rows import RowError
from reward_training.data.preferences import PreferencePair

ROLES = {"prompter": "user", "assistant": "assistant"}
GAP_STRENGTHS = {1: "slightly_better", 2: "better"}  # 3 and more: significantly_better


def gap_strength(gap: int) -> str:
    return GAP_STRENGTHS.get(gap, "significantly_better")


def _message_check(number: int, message: Any) -> dict:
    if not isinstance(message, dict):
        raise RowError(number, "expected an object")
    for key in ("message_id", "role", "text"):
        if not isinstance(message.get(key), str):
            raise RowError(number, f'"{key}" must be a text')
    if message["role"] not in ROLES:
        raise RowError(number, f'role {message["role"]!r}; expected "prompter" or "assistant"')
    rank = message.get("rank")
    if rank is not None and (
        isinstance(rank, bool) or not isinstance(rank, (int, float)) or rank < 0 or not float(rank).is_integer()
    ):
        raise RowError(number, f"rank {rank!r} is not a whole number of 0 or more")
    return message


def _flattened(rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, dict]]:
    """Messages of either layout, each with its parent's id, numbered by the row they came from."""
    for number, row in rows:
        if isinstance(row, dict) and isinstance(row.get("prompt"), dict) and "message_tree_id" in row:
            stack = [(row["prompt"], None)]
            while stack:
                message, parent = stack.pop()
                message = _message_check(number, message)
                replies = message.get("replies") or []
                if not isinstance(replies, list):
                    raise RowError(number, f'message {message["message_id"]}: "replies" must be a list')
                yield number, {**message, "parent_id": parent}
                stack.extend((reply, message["message_id"]) for reply in reversed(replies))
        else:
            yield number, _message_check(number, row)


def oasst_pairs(rows: Iterable[tuple[int, Any]], *, rank_strength: bool = True) -> Iterator[tuple[int, PreferencePair]]:
    """(row number of the chosen reply, pair) for each ranked pair of sibling replies. Raises RowError."""
    messages: dict[str, tuple[int, dict]] = {}
    children: dict[str, list[str]] = {}
    for number, message in _flattened(rows):
        if message["message_id"] in messages:
            raise RowError(number, f"message_id {message['message_id']} appears twice")
        messages[message["message_id"]] = (number, message)
        if message.get("parent_id") is not None:
            children.setdefault(message["parent_id"], []).append(message["message_id"])
    for parent_id, reply_ids in children.items():
        if parent_id not in messages:
            number = messages[reply_ids[0]][0]
            raise RowError(number, f"the parent message {parent_id} is not in the file")
        if messages[parent_id][1]["role"] != "prompter":
            continue
        ranked = sorted(
            (
                messages[i]
                for i in reply_ids
                if messages[i][1]["role"] == "assistant"
                and messages[i][1].get("rank") is not None
                and not messages[i][1].get("deleted")
            ),
            key=lambda numbered: numbered[1]["rank"],
        )
        if len(ranked) < 2:
            continue
        prompt = tuple(_history(messages, parent_id))
        for (number, better), (_, worse) in combinations(ranked, 2):
            gap = int(worse["rank"]) - int(better["rank"])
            if gap == 0:
                continue
            yield (
                number,
                PreferencePair(
                    prompt=prompt,
                    chosen=better["text"],
                    rejected=worse["text"],
                    strength=gap_strength(gap) if rank_strength else None,
                ),
            )


def _history(messages: dict[str, tuple[int, dict]], message_id: str) -> list[dict]:
    """The conversation from the root down to `message_id`, as chat messages."""
    path, seen = [], set()
    while message_id is not None:
        if message_id not in messages:
            raise RowError(path[-1][0], f"the parent message {message_id} is not in the file")
        if message_id in seen:
            raise RowError(messages[message_id][0], f"message {message_id} is its own ancestor")
        seen.add(message_id)
        number, message = messages[message_id]
        path.append((number, message))
        message_id = message.get("parent_id")
    return [{"role": ROLES[m["role"]], "content": m["text"]} for _, m in reversed(path)]
