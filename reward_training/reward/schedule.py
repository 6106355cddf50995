"""The learning-rate schedule of every trainer here: the reward models (Llama 2, 3.2.2) and SFT (3.1).

Linear warm-up, then cosine decay to `floor` x the peak (or a constant peak). One convention for both:
the factor of optimizer step s (0-based) during warm-up is s / warmup, so step 0 runs at lr 0. That is
intended: it is transformers' `get_cosine_with_min_lr_schedule_with_warmup` (and TRL's) to the step,
so a peer trainer given the same settings follows our curve exactly (bench/reward_training.py). With no
warm-up (SFT's default) step 0 runs at the peak.

Warm-up length: the reward models use the paper's "3% of the steps, at least 5" (`warmup_steps`), capped
at 10% of the steps so that a short run is not mostly warm-up. SFT takes an explicit number of steps,
0 by default: the paper gives SFT a cosine schedule and no warm-up.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "constant")


def warmup_steps(total_steps: int, *, ratio: float = 0.03, minimum: int = 5, max_fraction: float = 0.1) -> int:
    """ceil(ratio x total), raised to `minimum`, then capped at max_fraction x total (at least 1 where total > 0)."""
    if total_steps <= 0:
        return 0
    steps = max(math.ceil(ratio * total_steps), minimum)
    return max(1, min(steps, int(max_fraction * total_steps)))


def lr_factor(step: int, *, warmup: int, total: int, floor: float = 0.1, schedule: str = "cosine") -> float:
    """Multiplier of the peak learning rate for optimizer step `step` (0-based).

    Warm-up: step / warmup. Then, for "cosine", floor + (1 - floor) * 0.5 * (1 + cos(pi * progress)),
    with progress = (step - warmup) / (total - warmup): the same curve as transformers'
    "cosine_with_min_lr" schedule with min_lr_rate=floor; for "constant", 1.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")
    if step < warmup:
        return step / max(1, warmup)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
