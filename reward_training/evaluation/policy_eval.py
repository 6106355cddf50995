"""Comparing two policies on held-out prompts (paper 3.4, Fig. 11): sample from each, judge, win rate."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from reward_training.data.prompts import PromptItem
from reward_training.evaluation.win_rate import WinRate, outcome, win_rate
from reward_training.generation import best_of_k_generate, model_load


def policy_samples(
    policy_dir: str | Path, prompts: Sequence[PromptItem], *, temperature: float = 0.7, top_p: float = 0.9,
    max_new_tokens: int = 128, seed: int = 0, batch_size: int = 16, device: str | None = None,
    progress: bool = False,
) -> tuple[list[str], list[bool]]:
    """One sampled response per prompt (seeded, so two policies see the same random stream), and
    whether each ended with EOS (False: cut off at max_new_tokens; score it with finished=...)."""
    loaded = model_load(policy_dir, device=device)
    rows = best_of_k_generate(loaded, [p.messages for p in prompts], k=1, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, progress=progress)
    return [row[0].text.strip() for row in rows], [row[0].finished_with_eos for row in rows]


def policy_responses(policy_dir: str | Path, prompts: Sequence[PromptItem], **sampling) -> list[str]:
    """The texts of policy_samples (same settings)."""
    return policy_samples(policy_dir, prompts, **sampling)[0]


def paired_win_rate(new_scores: Sequence[float], old_scores: Sequence[float]) -> WinRate:
    """Win rate of the `new` replies over the `old` ones, prompt by prompt (higher is better); ties count one half."""
    return win_rate([outcome(float(a), float(b)) for a, b in zip(new_scores, old_scores)])
