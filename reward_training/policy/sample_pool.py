"""The pool of best samples kept across rejection-sampling iterations.

The paper saw a regression when only the latest iteration's samples were used, so every iteration's
best samples stay in the training set. Each iteration is one JSONL file, `iteration_NNN.jsonl`, of
{"iteration", "prompt": [messages], "response", "reward", "finished"}: "finished" is false for a reply
cut off at max_new_tokens (kept only where none of the prompt's K samples finished); a row written
before the field existed counts as finished.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from reward_training.data.chat import Message

_NAME = re.compile(r"iteration_(\d+)\.jsonl$")


def pool_iterations(pool_dir: str | Path) -> list[int]:
    pool = Path(pool_dir)
    return sorted(int(m.group(1)) for f in pool.glob("iteration_*.jsonl") if (m := _NAME.search(f.name))) if pool.is_dir() else []


def pool_write(pool_dir: str | Path, iteration: int, rows: list[dict]) -> Path:
    """Write one iteration's kept samples atomically (replacing a partial earlier attempt)."""
    pool = Path(pool_dir)
    pool.mkdir(parents=True, exist_ok=True)
    target = pool / f"iteration_{iteration:03d}.jsonl"
    partial = target.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({"iteration": iteration, **row}, ensure_ascii=False) + "\n")
    os.replace(partial, target)
    return target


def pool_read(pool_dir: str | Path, *, up_to: int | None = None) -> list[dict]:
    """Every kept sample of iterations <= up_to (all by default), oldest first."""
    rows = []
    for iteration in pool_iterations(pool_dir):
        if up_to is not None and iteration > up_to:
            continue
        path = Path(pool_dir) / f"iteration_{iteration:03d}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def pool_examples(rows: list[dict]) -> list[list[Message]]:
    """SFT examples (prompt + kept response) from pool rows; a truncated reply is marked so that SFT
    trains on it without an end-of-turn (policy/sft_data.py)."""
    return [[*row["prompt"], _reply(row)] for row in rows]


def _reply(row: dict) -> Message:
    reply = {"role": "assistant", "content": row["response"]}
    return reply if row.get("finished", True) else {**reply, "truncated": True}

