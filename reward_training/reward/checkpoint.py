"""Atomic training checkpoints: weights (Hugging Face format), optimizer, scheduler, RNG, config,
step and metrics, written by reward_training.io's directory writer (a temporary directory, fsynced,
renamed into place), so a kill at any moment leaves either the previous checkpoint or the new one,
never a half-written one."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from reward_training.io import directory_write_atomic

PREFIX = "checkpoint-"
STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"


def checkpoint_save(
    output_dir: str | Path,
    *,
    step: int,
    hf_model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
) -> Path:
    """Write checkpoint-<step> atomically and remove older ones. `state` (JSON) holds config, metrics, etc."""
    output_dir = Path(output_dir)
    final = output_dir / f"{PREFIX}{step:07d}"

    def write(tmp: Path) -> None:
        hf_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "python_rng": random.getstate(),
            },
            tmp / STATE_PT,
        )
        (tmp / STATE_JSON).write_text(json.dumps({**state, "step": step}, indent=1))

    directory_write_atomic(final, write)
    for old in output_dir.glob(f"{PREFIX}*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_latest(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint directory in output_dir (temporary ones are ignored)."""
    candidates = [p for p in Path(output_dir).glob(f"{PREFIX}*") if (p / STATE_JSON).is_file()]
    return max(candidates, key=lambda p: int(p.name[len(PREFIX) :]), default=None)


def checkpoint_state(path: Path) -> dict[str, Any]:
    return json.loads((path / STATE_JSON).read_text())


def checkpoint_load(path: Path, *, hf_model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG from a checkpoint; returns its JSON state."""
    weights = path / "model.safetensors"
    if weights.is_file():
        tensors = load_file(weights)
    else:  # sharded save
        index = json.loads((path / "model.safetensors.index.json").read_text())
        tensors = {}
        for shard in sorted(set(index["weight_map"].values())):
            tensors.update(load_file(path / shard))
    missing, unexpected = hf_model.load_state_dict(tensors, strict=False)
    tied = set(getattr(hf_model, "_tied_weights_keys", None) or [])  # a list, or a dict in recent transformers
    if unexpected or [k for k in missing if k not in tied and not any(k.endswith(t) for t in tied)]:
        raise RuntimeError(f"{path}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")
    blob = torch.load(path / STATE_PT, weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    random.setstate(blob["python_rng"])
    return checkpoint_state(path)
