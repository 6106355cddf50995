"""Comparing two policies on held-out prompts (paper 3.4, Fig. 11): sample from each, judge, win rate,
over all prompts and over the safety and the helpfulness prompts apart (the paper reports the two
reward models' view of each)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from reward_training.data.prompts import PromptItem
from reward_training.evaluation.win_rate import WinRate, outcome, win_rate
from reward_training.generation import best_of_k_generate, model_load


def policy_samples(
    policy_dir: str | Path,
    prompts: Sequence[PromptItem],
    *,
    temperature: float = 0.7,
    top_p: float = 0.9,
    max_new_tokens: int = 128,
    seed: int = 0,
    batch_size: int = 16,
    device: str | None = None,
    progress: bool = False,
) -> tuple[list[str], list[bool]]:
    """One sampled response per prompt (seeded, so two policies see the same random stream), and
    whether each ended with EOS (False: cut off at max_new_tokens; score it with finished=...)."""
    loaded = model_load(policy_dir, device=device)
    rows = best_of_k_generate(
        loaded,
        [p.messages for p in prompts],
        k=1,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )
    return [row[0].text.strip() for row in rows], [row[0].finished_with_eos for row in rows]


def policy_responses(policy_dir: str | Path, prompts: Sequence[PromptItem], **sampling) -> list[str]:
    """The texts of policy_samples (same settings)."""
    return policy_samples(policy_dir, prompts, **sampling)[0]


def paired_win_rate(new_scores: Sequence[float], old_scores: Sequence[float]) -> WinRate:
    """Win rate of the `new` replies over the `old` ones, prompt by prompt (higher is better); ties count one half."""
    return win_rate([outcome(float(a), float(b)) for a, b in zip(new_scores, old_scores)])


PROMPT_KINDS = ("safety", "helpfulness")


def paired_win_rates(
    new_scores: Sequence[float], old_scores: Sequence[float], safety: Sequence[bool]
) -> dict[str, WinRate | None]:
    """paired_win_rate over all prompts ("all") and over the safety and the helpfulness prompts
    (`safety[i]` says which prompt i is); None for a kind with no prompt."""
    rates: dict[str, WinRate | None] = {"all": paired_win_rate(new_scores, old_scores)}
    for kind in PROMPT_KINDS:
        chosen = [i for i, flag in enumerate(safety) if flag == (kind == "safety")]
        rates[kind] = (
            paired_win_rate([new_scores[i] for i in chosen], [old_scores[i] for i in chosen]) if chosen else None
        )
    return rates


def win_rate_fields(rates: dict[str, dict[str, WinRate | None]], prefix: str = "") -> dict:
    """Flat report fields from {judge: paired_win_rates(...)}: `<judge>_win_rate` and `<judge>_win_rate_ci95`
    over all prompts, and the same with `_safety` / `_helpfulness` appended (None where no such prompt)."""
    fields: dict = {}
    for judge, by_kind in rates.items():
        for kind in ("all", *PROMPT_KINDS):
            rate, suffix = by_kind[kind], "" if kind == "all" else f"_{kind}"
            fields[f"{prefix}{judge}_win_rate{suffix}"] = rate.rate if rate else None
            fields[f"{prefix}{judge}_win_rate{suffix}_ci95"] = [rate.low, rate.high] if rate else None
    return fields
