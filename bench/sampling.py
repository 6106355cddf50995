"""Sampling throughput: a naive loop of `generate` calls against our batched best-of-K path.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/sampling.py [--model assets/demo-chat] [--runs 3] [--threads 1]

Both paths use the same loaded model (float32 on CPU, bf16 on CUDA), the same 32 prompts (the
dialogue histories of the first held-out HH rows, 1401 onwards, which the demo model never saw),
K = 8 samples per prompt, the same temperature, top-p, max_new_tokens and EOS rule, and the KV
cache:

- naive: one `model.generate(..., do_sample=True, num_return_sequences=1)` call per sample;
- batched: `best_of_k_generate` (prompts sorted by length, each batch prefilled once, its KV
  cache expanded K times, all rows decoded together).

The two alternate run by run, and the medians over the runs are reported: samples/s, completion
tokens/s (EOS included) and the batched/naive ratio. The last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reward_training.data.hh import hh_read  # noqa: E402
from reward_training.generation import best_of_k_generate, model_load, prompt_encode  # noqa: E402


def bench_prompts(path: Path, first_row: int, n: int) -> list[list[dict]]:
    prompts = []
    for number, pair in hh_read(path):
        if number >= first_row and len(prompts) < n:
            prompts.append(pair.prompt)
    return prompts


@torch.inference_mode()
def naive_run(loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed) -> tuple[int, int, float]:
    """One generate call per sample; returns (samples, completion tokens, seconds)."""
    eos = set(loaded.eos_token_ids)
    samples = tokens = 0
    started = time.perf_counter()
    for i, messages in enumerate(prompts):
        ids = torch.tensor([prompt_encode(loaded, messages, max_new_tokens)], device=loaded.device)
        for j in range(k):
            torch.manual_seed(seed + i * k + j)
            out = loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                max_new_tokens=max_new_tokens,
                eos_token_id=list(loaded.eos_token_ids),
                pad_token_id=loaded.pad_token_id,
                use_cache=True,
            )
            completion = out[0, ids.shape[1]:].tolist()
            for n, token in enumerate(completion):  # count up to and including the first EOS
                if token in eos:
                    completion = completion[: n + 1]
                    break
            samples += 1
            tokens += len(completion)
    return samples, tokens, time.perf_counter() - started


def batched_run(loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size) -> tuple[int, int, float]:
    started = time.perf_counter()
    results = best_of_k_generate(
        loaded, prompts, k=k, temperature=temperature, top_p=top_p,
        max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
    )
    seconds = time.perf_counter() - started
    return sum(len(r) for r in results), sum(s.completion_tokens for r in results for s in r), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "assets" / "demo-chat"))
    parser.add_argument("--data", default=str(REPO / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"))
    parser.add_argument("--first-row", type=int, default=1401, help="first HH row of the prompts (held out from the demo model)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per batch in the batched path")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    loaded = model_load(args.model, device=args.device)
    prompts = bench_prompts(Path(args.data), args.first_row, args.prompts)
    settings = dict(k=args.k, temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed)
    n_params = sum(p.numel() for p in loaded.model.parameters())
    print(
        f"model {args.model} ({n_params / 1e6:.1f}M parameters, {loaded.dtype}) on {loaded.device}, "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        file=sys.stderr,
    )
    print(f"{len(prompts)} prompts x K={args.k}, max_new_tokens={args.max_new_tokens}, T={args.temperature}, top_p={args.top_p}", file=sys.stderr)

    batched_run(loaded, prompts[:2], **{**settings, "k": 2}, batch_size=2)  # warm-up
    runs: dict[str, list[tuple[int, int, float]]] = {"naive": [], "batched": []}
    for run in range(args.runs):
        for name, path in (("naive", naive_run), ("batched", batched_run)):
            extra = {"batch_size": args.batch_size} if name == "batched" else {}
            runs[name].append(path(loaded, prompts, **settings, **extra))
            s, t, sec = runs[name][-1]
            print(f"run {run + 1} {name:8s} {sec:8.2f} s  {s / sec:8.2f} samples/s  {t / sec:9.1f} tokens/s", file=sys.stderr, flush=True)

    summary = {}
    for name, results in runs.items():
        summary[name] = {
            "seconds_median": statistics.median(sec for _, _, sec in results),
            "samples_per_s": statistics.median(s / sec for s, _, sec in results),
            "tokens_per_s": statistics.median(t / sec for _, t, sec in results),
            "samples": results[0][0],
            "completion_tokens_median": statistics.median(t for _, t, _ in results),
        }
    ratio = summary["batched"]["samples_per_s"] / summary["naive"]["samples_per_s"]
    print(f"\n{'path':8s} {'samples/s':>10s} {'tokens/s':>10s} {'median s':>9s}")
    for name, row in summary.items():
        print(f"{name:8s} {row['samples_per_s']:10.2f} {row['tokens_per_s']:10.1f} {row['seconds_median']:9.2f}")
    print(f"batched / naive samples/s: {ratio:.2f}x (goal >= 3x on CPU)")
    print(json.dumps({
        **summary, "ratio_samples_per_s": ratio, "runs": args.runs, "device": str(loaded.device),
        "threads": torch.get_num_threads(), **settings, "prompts": len(prompts), "batch_size": args.batch_size,
    }))


if __name__ == "__main__":
    main()
