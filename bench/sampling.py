"""Sampling throughput on best-of-K: our batched path against the peers a user would write.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/sampling.py [--model DIR] [--runs 3] [--threads 1] [--paths ours,strong]

The model defaults to SmolLM2-135M-Instruct, converted from its GGUF file into var/models (as
`make demo` and the tests do). Every path uses the same loaded model (float32 on CPU, bf16 on
CUDA), the same prompts (the dialogue histories of the first held-out HH rows, 1401 onwards), K
samples per prompt (default 8), the same temperature, top-p, max_new_tokens (default 128) and EOS
rule, and the KV cache:

- naive: one `model.generate(..., num_return_sequences=1)` call per sample;
- strong: the peer a user would actually write: one `model.generate(prompts, do_sample=True,
  num_return_sequences=K)` per batch of `--batch-size` prompts, taken in order and left-padded;
- generate_batch: transformers' continuous batching (`model.generate_batch`, paged KV cache), all
  prompts in one call with `num_return_sequences=K`, its cache sized to the workload;
- ours: `best_of_k_generate` (prompts sorted by length, each batch of `--batch-size` prompts
  prefilled once, its KV cache expanded K times, all rows decoded together, finished rows dropped);
- openai: the openai backend (reward_training/generation/backends.py) against `transformers serve`
  on 127.0.0.1 serving the same model directory (with sampling on), `--batch-size` prompts in
  flight. Its server's start is not timed, and it runs with one torch thread (tests/serving.py),
  so compare it with `--threads 1`. Where the backend or the `serving` extra is absent,
  the column says why and is not measured.

The paths alternate run by run and the medians over the runs are reported: samples/s, completion
tokens/s (EOS included) and the ratio of ours to the strong peer (goal: at least 1.5x). The last
stdout line is JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sampling_paths import OpenAIPath, generate_batch_run, naive_run, ours_run, strong_run  # noqa: E402
from reward_training.data.hh import hh_read  # noqa: E402
from reward_training.generation import model_load  # noqa: E402

PATHS = ("naive", "strong", "generate_batch", "ours", "openai")
GOAL_OVER_STRONG = 1.5


def bench_prompts(path: Path, first_row: int, n: int) -> list[list[dict]]:
    prompts = []
    for number, pair in hh_read(path):
        if number >= first_row and len(prompts) < n:
            prompts.append(pair.prompt)
    return prompts


def openai_missing() -> str | None:
    """Why the openai column cannot be measured here, or None."""
    if importlib.util.find_spec("reward_training.generation.backends") is None:
        return "not measured yet: the openai backend (reward_training/generation/backends.py) is not on this branch"
    if not (REPO / "tests" / "serving.py").is_file():
        return "not measured yet: tests/serving.py (the transformers serve fixture) is not on this branch"
    if importlib.util.find_spec("openai") is None or importlib.util.find_spec("fastapi") is None:
        return "not measured: the openai client or the serving extra (transformers[serving]) is not installed"
    if not (Path(sys.executable).parent / "transformers").exists():
        return "not measured: the `transformers` command (transformers serve) is not in this environment"
    return None


def default_model() -> str:
    from reward_training.generation.gguf import smollm2_converted

    return str(smollm2_converted(REPO / "var" / "models"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="a local Hugging Face chat model (default: SmolLM2-135M-Instruct)"
    )
    parser.add_argument("--data", default=str(REPO / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"))
    parser.add_argument(
        "--first-row", type=int, default=1401, help="first HH row of the prompts (held out from the demo model)"
    )
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--batch-size", type=int, default=8, help="prompts per batch (strong peer and ours), in flight (openai)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"which of {', '.join(PATHS)} to run, comma-separated")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PATHS))
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    model_dir = args.model or default_model()
    loaded = model_load(model_dir, device=args.device)
    prompts = bench_prompts(Path(args.data), args.first_row, args.prompts)
    settings = dict(
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    n_params = sum(p.numel() for p in loaded.model.parameters())
    print(
        f"model {model_dir} ({n_params / 1e6:.1f}M parameters, {loaded.dtype}) on {loaded.device}, "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        file=sys.stderr,
    )
    print(
        f"{len(prompts)} prompts x K={args.k}, max_new_tokens={args.max_new_tokens}, T={args.temperature}, "
        f"top_p={args.top_p}, batch {args.batch_size} prompts",
        file=sys.stderr,
    )

    functions = {"naive": naive_run, "strong": strong_run, "generate_batch": generate_batch_run, "ours": ours_run}
    not_measured: dict[str, str] = {}
    served: OpenAIPath | None = None
    scratch = tempfile.TemporaryDirectory(prefix="bench-sampling-")
    if "openai" in chosen:
        reason = openai_missing()
        if reason is None:
            served = OpenAIPath(Path(model_dir), Path(scratch.name))
            functions["openai"] = served
        else:
            not_measured["openai"] = reason
            print(f"openai: {reason}", file=sys.stderr)
    order = [p for p in PATHS if p in chosen and p in functions]
    try:
        warm = {**settings, "k": 2, "max_new_tokens": 4, "batch_size": 2}
        for name in order:  # warm-up: first calls pay for lazy initialisation
            functions[name](loaded, prompts[:2], **warm)
        runs: dict[str, list[tuple[int, int, float]]] = {name: [] for name in order}
        for run in range(args.runs):
            for name in order:
                runs[name].append(functions[name](loaded, prompts, **settings))
                s, t, sec = runs[name][-1]
                print(
                    f"run {run + 1} {name:14s} {sec:8.2f} s  {s / sec:8.2f} samples/s  {t / sec:9.1f} tokens/s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if served is not None:
            served.close()
        scratch.cleanup()

    summary: dict[str, dict] = {}
    for name, results in runs.items():
        summary[name] = {
            "seconds_median": statistics.median(sec for _, _, sec in results),
            "samples_per_s": statistics.median(s / sec for s, _, sec in results),
            "tokens_per_s": statistics.median(t / sec for _, t, sec in results),
            "samples": results[0][0],
            "completion_tokens_median": statistics.median(t for _, t, _ in results),
        }
    ratios = {
        f"ours_over_{name}": summary["ours"]["samples_per_s"] / summary[name]["samples_per_s"]
        for name in summary
        if name != "ours" and "ours" in summary
    }
    print(f"\n{'path':14s} {'samples/s':>10s} {'tokens/s':>10s} {'median s':>9s}")
    for name in PATHS:
        if name in summary:
            row = summary[name]
            print(f"{name:14s} {row['samples_per_s']:10.2f} {row['tokens_per_s']:10.1f} {row['seconds_median']:9.2f}")
        elif name in not_measured:
            print(f"{name:14s} {not_measured[name]}")
    for key, ratio in ratios.items():
        goal = f" (goal >= {GOAL_OVER_STRONG}x)" if key == "ours_over_strong" else ""
        print(f"{key.replace('_', ' ')} samples/s: {ratio:.2f}x{goal}")
    print(
        json.dumps(
            {
                **summary,
                **ratios,
                "not_measured": not_measured,
                "runs": args.runs,
                "device": str(loaded.device),
                "threads": torch.get_num_threads(),
                "model": model_dir,
                **settings,
                "prompts": len(prompts),
            }
        )
    )


if __name__ == "__main__":
    main()
