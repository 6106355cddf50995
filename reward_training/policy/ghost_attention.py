"""Ghost Attention with a real policy (Llama 2, 3.3): build the data, fine-tune on it, measure adherence.

    config = GattConfig(max_new_tokens=96)
    summary = gatt_data_build(config, policy_dir="models/sft", dialogues=dialogues, instructions=instructions,
                              output="var/gatt/gatt.jsonl")
    metrics = gatt_train(SFTConfig(loss_on="last", ...), "var/gatt/gatt.jsonl", "models/sft", "models/sft-gatt")
    report = adherence_measure(config, policy_dir="models/sft-gatt", dialogues=heldout, instructions=instructions)

The data builder and the adherence test live in reward_training.data.gatt, the instructions in
reward_training.data.gatt_instructions (no model there); this module loads the policy, samples from it
and trains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from reward_training.data.gatt import (
    Dialogue,
    GattConfig,
    adherence_sample,
    gatt_rows_build,
    gatt_rows_read,
    gatt_rows_write,
    placement_pick,
    policy_replier,
)
from reward_training.data.gatt_instructions import InstructionSet, instructions_verifiable
from reward_training.evaluation.adherence import adherence_by_turn
from reward_training.generation import model_load
from reward_training.policy.sft import sft_train
from reward_training.policy.sft_config import SFTConfig

GATT_SFT = SFTConfig(epochs=1.0, learning_rate=1e-5, batch_size=16, micro_batch_size=8, max_length=1024, loss_on="last")


def gatt_data_build(
    config: GattConfig,
    *,
    policy_dir: str | Path,
    dialogues: Sequence[Dialogue],
    instructions: InstructionSet,
    output: str | Path,
    on_replies: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Sample the GAtt dialogues from the policy and write the training rows (JSONL, atomically).

    `on_replies(n)` is told each time n more replies are sampled (for a progress bar)."""
    started = time.perf_counter()
    loaded = model_load(policy_dir, device=config.device)
    placement = placement_pick(config, loaded.tokenizer)
    rows = gatt_rows_build(
        dialogues, instructions, policy_replier(loaded, config), config=config, placement=placement, on_turn=on_replies
    )
    gatt_rows_write(rows, output)
    return {
        "output": str(Path(output).resolve()),
        "dialogues": len(dialogues),
        "rows": len(rows),
        "replies_truncated": sum(bool(r["messages"][-1].get("truncated")) for r in rows),
        "placement": placement,
        "instructions_version": instructions.version,
        "short_form_rows": sum(r["instruction"]["stated"] == r["instruction"]["short"] for r in rows),
        "seconds": time.perf_counter() - started,
    }


def gatt_train(sft: SFTConfig, rows_path: str | Path, policy_dir: str | Path, output_dir: str | Path) -> dict[str, Any]:
    """Fine-tune on a GAtt JSONL with the loss on each row's last reply only."""
    return sft_train(replace(sft, loss_on="last"), gatt_rows_read(rows_path), policy_dir, output_dir)


def adherence_measure(
    config: GattConfig,
    *,
    policy_dir: str | Path,
    dialogues: Sequence[Dialogue],
    instructions: InstructionSet,
    seed: int = 0,
) -> dict[str, Any]:
    """Adherence by turn (1..max_turns) with a verifiable instruction given in the first turn only.

    The same seed draws the same instructions and sampling stream for every policy measured."""
    instructions_verifiable(instructions)  # refuse before loading the model
    loaded = model_load(policy_dir, device=config.device)
    placement = placement_pick(config, loaded.tokenizer)
    run = adherence_sample(
        dialogues, instructions, policy_replier(loaded, replace(config, seed=seed)), placement=placement, seed=seed
    )
    report = adherence_by_turn([i.checks for i in run.instructions], run.replies, max_turns=config.max_turns)
    report["placement"] = placement
    report["dialogues"] = len(dialogues)
    return report
