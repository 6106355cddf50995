"""Learning-rate schedule of the reward models (Llama 2, 3.2.2): linear warm-up over 3% of the
steps (at least 5, at most 10% of the steps), then cosine decay to 10% of the peak."""

from __future__ import annotations

import math


def warmup_steps(total_steps: int, *, ratio: float = 0.03, minimum: int = 5, max_fraction: float = 0.1) -> int:
    """ceil(ratio x total), raised to `minimum`, then capped at max_fraction x total (at least 1 where total > 0)."""
    if total_steps <= 0:
        return 0
    steps = max(math.ceil(ratio * total_steps), minimum)
    return max(1, min(steps, int(max_fraction * total_steps)))


def lr_factor(step: int, *, warmup: int, total: int, floor: float = 0.1) -> float:
    """Multiplier of the peak learning rate for optimizer step `step` (0-based).

    Warm-up: step / warmup. Then floor + (1 - floor) * 0.5 * (1 + cos(pi * progress)), with
    progress = (step - warmup) / (total - warmup): the same curve as transformers'
    "cosine_with_min_lr" schedule with min_lr_rate=floor, so a peer trainer can be given it exactly.
    """
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
