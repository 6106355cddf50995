"""The pool of best samples kept across rejection-sampling iterations, one pool per policy lineage.

The paper saw a regression when only the latest iteration's samples were used, so every iteration's
best samples stay in the training set (paper 3.2.3). Three rules keep that pool honest:

* **Only promoted samples.** Rejection sampling stages the samples it kept in the candidate policy's
  own directory (`pool_samples.jsonl`, `staged_write`). They enter the pool when the candidate is
  promoted (`pool_merge`); a candidate the promotion gate rejects leaves the pool as it was.
* **One pool per lineage.** A lineage is the chain of policies grown from one starting checkpoint, and
  its pool is its own folder (`pool_dir`); two starting models never share samples.
* **Re-scored every iteration.** Each iteration scores every pooled sample again with the current
  reward models, and fine-tunes on the best sample per prompt among the pool and its own new samples
  (`pool_best`: a finished reply beats a truncated one, then the higher reward).

On disk a lineage's pool is one JSONL file per promoted iteration, `iteration_NNN.jsonl`, of
{"iteration", "staged_id", "prompt": [messages], "response", "reward", "safety", "finished"}: "reward"
is the reward when the sample was taken (a later iteration re-scores it), "finished" is false for a
reply cut off at max_new_tokens (a row written before the field existed counts as finished), and
"staged_id" names the staging file it came from, so merging the same candidate twice adds nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from reward_training.data.chat import Message
from reward_training.io import jsonl_write_atomic

STAGED = "pool_samples.jsonl"  # a candidate's kept samples, waiting for its promotion
_NAME = re.compile(r"iteration_(\d+)\.jsonl$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def pool_dir(root: str | Path, lineage: str) -> Path:
    """The pool folder of one lineage (named after its starting checkpoint) under `root`."""
    return Path(root) / (_UNSAFE_NAME.sub("_", lineage) or "_")


def pool_iterations(pool_dir: str | Path) -> list[int]:
    pool = Path(pool_dir)
    return (
        sorted(int(m.group(1)) for f in pool.glob("iteration_*.jsonl") if (m := _NAME.search(f.name)))
        if pool.is_dir()
        else []
    )


def _rows_read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pool_write(pool_dir: str | Path, iteration: int, rows: list[dict]) -> Path:
    """Write one iteration's samples into the pool (replacing that iteration's file)."""
    path = Path(pool_dir) / f"iteration_{iteration:03d}.jsonl"
    jsonl_write_atomic(path, ({**row, "iteration": iteration} for row in rows))
    return path


def pool_read(pool_dir: str | Path, *, up_to: int | None = None) -> list[dict]:
    """Every pooled sample of iterations <= up_to (all by default), oldest first."""
    rows = []
    for iteration in pool_iterations(pool_dir):
        if up_to is None or iteration <= up_to:
            rows += _rows_read(Path(pool_dir) / f"iteration_{iteration:03d}.jsonl")
    return rows


def staged_write(candidate_dir: str | Path, rows: list[dict]) -> Path:
    """Stage a candidate's kept samples in its directory, under a fresh id; `pool_merge` adds them on promotion."""
    staged_id = uuid.uuid4().hex
    path = Path(candidate_dir) / STAGED
    jsonl_write_atomic(path, ({**row, "staged_id": staged_id} for row in rows))
    return path


def pool_merge(pool_dir: str | Path, candidate_dir: str | Path) -> int | None:
    """Add a promoted candidate's staged samples to the pool as its next iteration, and return that
    iteration; the iteration they already are if merged before, None if the candidate staged none
    (a policy that did not come from rejection sampling)."""
    staged = Path(candidate_dir) / STAGED
    if not staged.is_file():
        return None
    rows = _rows_read(staged)
    staged_id = rows[0]["staged_id"] if rows else None
    for row in pool_read(pool_dir):
        if row.get("staged_id") == staged_id:
            return row["iteration"]
    if not rows:
        return None
    iteration = max(pool_iterations(pool_dir), default=0) + 1
    pool_write(pool_dir, iteration, rows)
    return iteration


def prompt_key(messages: list[Message]) -> str:
    """One key per prompt (with its history), for grouping samples of the same prompt."""
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def pool_best(rows: Iterable[dict]) -> list[dict]:
    """The best row per prompt by the rows' (current) "reward", a finished reply before any truncated one,
    in the order the prompts first appear; of equal rows the earlier one stays."""
    best: dict[str, dict] = {}
    for row in rows:
        key = prompt_key(row["prompt"])
        held = best.get(key)
        if held is None or _rank(row) > _rank(held):
            best[key] = row
    return list(best.values())


def _rank(row: dict) -> tuple[bool, float]:
    return bool(row.get("finished", True)), float(row["reward"])


def pool_examples(rows: list[dict]) -> list[list[Message]]:
    """SFT examples (prompt + kept response) from pool rows; a truncated reply is marked so that SFT
    trains on it without an end-of-turn (policy/sft_data.py)."""
    return [[*row["prompt"], _reply(row)] for row in rows]


def _reply(row: dict) -> Message:
    reply = {"role": "assistant", "content": row["response"]}
    return reply if row.get("finished", True) else {**reply, "truncated": True}
