"""Rejection-sampling fine-tuning (Llama 2 paper, section 3.2.3).

For each prompt: sample K responses from the current policy at temperature T (the batched best-of-K
path), score them with the combined reward Rc (safety RM for safety prompts or when Rs < 0.15, else
helpfulness RM), keep the best. Then re-score the lineage's pool of promoted samples from earlier
iterations with the same reward models, and fine-tune the policy with the SFT loss on the best sample
per prompt among the pool and the new ones (policy/sample_pool.py). The new samples are staged in the
candidate's directory and join the pool only if the candidate is promoted. The max and median reward
against K (paper Fig. 7) are reported as JSON and a PNG.

A sample cut off at max_new_tokens is scored as written (no end-of-turn), is kept only where none of
its prompt's K samples finished, and is then trained on without an end-of-turn. The loss falls on the
selected reply alone (SFT loss_on="last"): earlier assistant turns of a prompt's history came from
older models, and no reward model selected them. The share of truncated replies is reported among
the samples, the kept ones and the fine-tuning set (the best of the pool and the new samples).

With `temperature_sweep` set, the iteration first samples K responses at each temperature of the
grid on a seeded subset of `sweep_prompts` prompts (the same seeds at every temperature), records
the max and median reward against K for each (paper Fig. 8) as JSON and a PNG beside the Fig. 7
curve, and runs in full at the temperature whose mean best-of-K reward is highest. The sweep's
choice replaces `temperature` (and any per-iteration schedule a caller derived it from).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from reward_training.config import config_dict
from reward_training.data.prompts import PromptItem
from reward_training.generation import best_of_k_generate, model_load
from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.rewards import (
    SAFETY_THRESHOLD,
    best_of_k_select,
    combined_scores,
    reward_vs_k,
    truncated_share,
)
from reward_training.policy.sample_pool import pool_best, pool_examples, pool_iterations, pool_read, staged_write
from reward_training.policy.sft import sft_train
from reward_training.reward.scorer import RewardScorer
from reward_training.tracking import RunTracker

CURVE_JSON = "reward_vs_k.json"
CURVE_PNG = "reward_vs_k.png"
SWEEP_JSON = "reward_vs_k_by_temperature.json"
SWEEP_PNG = "reward_vs_k_by_temperature.png"
SWEEP_METRIC = "mean over the sweep's prompts of the max Rc among K samples (what best-of-K keeps)"


def curve_plot(curve: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(curve["k"], curve["max"], marker="o", label="max")
    ax.plot(curve["k"], curve["median"], marker="o", label="median")
    ax.set_xlabel("samples per prompt (K)")
    ax.set_ylabel("combined reward Rc")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sweep_plot(sweep: dict[str, Any], path: Path) -> None:
    """Fig. 8: the max (solid) and median (dashed) reward against K, one colour per temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(sweep["by_temperature"]):
        colour = f"C{i}"
        chosen = " (chosen)" if row["temperature"] == sweep["chosen"] else ""
        ax.plot(sweep["k"], row["max"], color=colour, marker="o", label=f"max, T={row['temperature']:g}{chosen}")
        ax.plot(sweep["k"], row["median"], color=colour, linestyle="--", label=f"median, T={row['temperature']:g}")
    ax.set_xlabel("samples per prompt (K)")
    ax.set_ylabel("combined reward Rc")
    ax.set_title(f"reward against K by temperature ({sweep['prompts']} prompts)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _sample(loaded: Any, prompts: list[PromptItem], config: RejectionSamplingConfig, temperature: float) -> dict:
    """K samples per prompt at `temperature`, flattened prompt-major (row i * K + j is sample j of prompt i)."""
    samples = best_of_k_generate(
        loaded,
        [p.messages for p in prompts],
        k=config.k,
        temperature=temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
        batch_size=config.generation_batch_size,
        progress=config.progress,
    )
    return {
        "prompts": [p for p, row in zip(prompts, samples) for _ in row],
        "texts": [s.text.strip() for row in samples for s in row],
        "finished": [s.finished_with_eos for row in samples for s in row],
    }


def _rewards(
    sampled: dict, helpfulness: RewardScorer, safety: RewardScorer, n: int, config: RejectionSamplingConfig
) -> torch.Tensor:  # (n, K) Rc
    scores = combined_scores(
        helpfulness, safety, sampled["prompts"], sampled["texts"], config.safety_threshold, finished=sampled["finished"]
    )
    return scores["combined"].view(n, config.k)


def temperature_sweep(
    loaded: Any,
    helpfulness: RewardScorer,
    safety: RewardScorer,
    prompts: list[PromptItem],
    config: RejectionSamplingConfig,
) -> dict[str, Any]:
    """Paper Fig. 8: best-of-K at each temperature of config.temperature_sweep on a seeded subset of
    config.sweep_prompts prompts, with the same seeds at each temperature (common random numbers).
    Returns {"k", "prompts", "metric", "by_temperature": [{"temperature", "max", "median", "score"}], "chosen"}:
    "chosen" has the highest "score" (SWEEP_METRIC, the curve's max at K; the lower temperature on a tie)."""
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(config.seed)).tolist()
    subset = [prompts[i] for i in sorted(order[: config.sweep_prompts])]
    rows = []
    for temperature in config.temperature_sweep:
        curve = reward_vs_k(
            _rewards(_sample(loaded, subset, config, temperature), helpfulness, safety, len(subset), config)
        )
        rows.append(
            {"temperature": temperature, "max": curve["max"], "median": curve["median"], "score": curve["max"][-1]}
        )
    best = max(rows, key=lambda row: (row["score"], -row["temperature"]))
    return {
        "k": list(range(1, config.k + 1)),
        "prompts": len(subset),
        "metric": SWEEP_METRIC,
        "by_temperature": rows,
        "chosen": best["temperature"],
    }


def rejection_sample(
    config: RejectionSamplingConfig,
    *,
    policy_dir: str | Path,
    helpfulness_rm_dir: str | Path,
    safety_rm_dir: str | Path,
    prompts: list[PromptItem],
    pool_dir: str | Path,
    output_dir: str | Path,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One iteration: best-of-K under Rc, re-score the lineage's pool (`pool_dir`), SFT on the best per prompt.

    Writes the fine-tuned policy to output_dir (atomically), with reward_vs_k.json / .png,
    rejection_sampling.json and the staged samples (sample_pool.STAGED) beside it; returns the metrics.
    The pool itself is left unchanged: `sample_pool.pool_merge` adds the staged samples on promotion.
    With config.temperature_sweep, reward_vs_k_by_temperature.json / .png are written too and the full run
    samples at the sweep's best temperature (metrics "temperature"; "temperature_sweep" holds the curves).
    `on_stage(name)` is told when "sweeping" (with a sweep), "sampling", "scoring" and "fine-tuning" begin.
    """
    stage = on_stage or (lambda name: None)
    output_dir = Path(output_dir)
    loaded = model_load(policy_dir, device=config.device)

    def scorers() -> tuple[RewardScorer, RewardScorer]:
        return (
            RewardScorer(helpfulness_rm_dir, device=config.device, batch_size=config.score_batch_size),
            RewardScorer(safety_rm_dir, device=config.device, batch_size=config.score_batch_size),
        )

    sweep, temperature, helpfulness = None, config.temperature, None
    if config.temperature_sweep:
        stage("sweeping")
        helpfulness, safety = scorers()
        sweep = temperature_sweep(loaded, helpfulness, safety, prompts, config)
        temperature = sweep["chosen"]
    stage("sampling")
    sampled = _sample(loaded, prompts, config, temperature)
    del loaded
    flat_texts, flat_finished = sampled["texts"], sampled["finished"]
    stage("scoring")
    if helpfulness is None:  # without a sweep the policy is gone before the reward models load
        helpfulness, safety = scorers()
    rewards = _rewards(sampled, helpfulness, safety, len(prompts), config)  # (N, K)
    finished = torch.tensor(flat_finished, dtype=torch.bool).view(len(prompts), config.k)  # (N, K)
    best = best_of_k_select(rewards, finished)  # (N,)
    kept = [
        {
            "prompt": p.messages,
            "response": flat_texts[i * config.k + j],
            "reward": rewards[i, j].item(),
            "safety": p.safety,
            "finished": bool(finished[i, j]),
        }
        for i, (p, j) in enumerate(zip(prompts, best.tolist()))
    ]
    pool = pool_rescore(pool_read(pool_dir), helpfulness, safety, config.safety_threshold)
    del helpfulness, safety
    training = pool_best([*kept, *pool])  # a new sample wins a tie with a pooled one
    stage("fine-tuning")
    run = RunTracker(
        config.sft.tracker, output_dir=output_dir, config=config_dict(config.sft), tracking_dir=config.sft.tracking_dir
    )
    run.start()
    sft_metrics = sft_train(config.sft, pool_examples(training), policy_dir, output_dir, run=run)
    staged_write(output_dir, kept)

    curve = reward_vs_k(rewards)
    from_pool = sum(1 for row in training if "iteration" in row)
    metrics = {
        "iteration": max(pool_iterations(pool_dir), default=0) + 1,  # the pool iteration it becomes if promoted
        "prompts": len(prompts),
        "k": config.k,
        "temperature": temperature,  # the sweep's choice when it ran, else config.temperature
        "temperature_sweep": sweep,
        "kept_this_iteration": len(kept),
        "pool_size": len(pool),  # promoted samples of earlier iterations, all re-scored
        "training_examples": len(training),  # the best per prompt: SFT's examples
        "training_from_pool": from_pool,  # of those, pooled samples that beat this iteration's
        "truncated": {  # the share of replies cut off at max_new_tokens
            "sampled": truncated_share(finished),
            "kept": truncated_share([row["finished"] for row in kept]),
            "pool": truncated_share([row.get("finished", True) for row in training]),
        },
        "pool_iterations": pool_iterations(pool_dir),
        "mean_best_reward": rewards.max(dim=1).values.mean().item(),  # over all K samples (Fig. 7)
        "mean_kept_reward": sum(row["reward"] for row in kept) / max(len(kept), 1),
        "mean_median_reward": rewards.median(dim=1).values.mean().item(),
        "reward_vs_k": curve,
        "sft": sft_metrics,
        "config": config_dict(config),
    }
    finished_rate = {
        "sampled": finished.float().mean().item(),
        "kept": sum(row["finished"] for row in kept) / max(len(kept), 1),
    }
    run.log(
        {
            "rejection_sampling": {
                **{
                    k: metrics[k]
                    for k in ("mean_best_reward", "mean_kept_reward", "mean_median_reward", "training_from_pool")
                },
                "finished_rate": finished_rate,
            }
        },
        step=metrics["iteration"],
    )
    metrics["tracking"] = run.finish()
    (output_dir / CURVE_JSON).write_text(json.dumps(curve, indent=1))
    curve_plot(curve, output_dir / CURVE_PNG, f"best-of-K, T={temperature:g}")
    if sweep is not None:
        (output_dir / SWEEP_JSON).write_text(json.dumps(sweep, indent=1))
        sweep_plot(sweep, output_dir / SWEEP_PNG)
    (output_dir / "rejection_sampling.json").write_text(json.dumps(metrics, indent=1, default=str))
    return metrics


def pool_rescore(
    rows: list[dict], helpfulness: RewardScorer, safety: RewardScorer, threshold: float = SAFETY_THRESHOLD
) -> list[dict]:
    """The pool rows with "reward" replaced by Rc under the given (current) reward models; the reward at
    sampling time moves to "sampled_reward". A truncated reply is scored as written."""
    if not rows:
        return []
    items = [PromptItem(messages=row["prompt"], safety=bool(row.get("safety", False))) for row in rows]
    finished = [bool(row.get("finished", True)) for row in rows]
    rc = combined_scores(helpfulness, safety, items, [row["response"] for row in rows], threshold, finished=finished)[
        "combined"
    ]
    return [{**row, "sampled_reward": row["reward"], "reward": score} for row, score in zip(rows, rc.tolist())]
