"""The prepared GPU benchmark: reward_training alone, on random Llama models built on the machine.

    bench/gpu/run.sh                 # one H100/H200: under 10 minutes, JSON to $OUT
    bench/gpu/run.sh --cpu --tiny    # the same code on tiny models on a CPU, in under a minute (make test)

Where it runs: a GPU machine with torch, transformers and accelerate but no package registry and
no Django. It imports `reward_training` (and bench/sampling.py's peer, from bench/sampling_paths.py) and
nothing else of the project; the sections themselves live in bench/gpu/gpu_sections.py. No weights
travel: the models are random-initialised here, in bf16, from two shapes with a 32,000-token
vocabulary (Llama 2's):

- `1b`: TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, MLP 5632), 1.1B parameters;
- `7b`: Llama-2-7B's shape (hidden 4096, 32 layers, 32 heads, MHA, MLP 11008), 6.7B parameters.

The tokenizer is reward_training.testing's tiny one (384 ids, trained in a second): prompts and
pairs use those ids, and sampled ids beyond them decode to nothing, which no figure depends on.

What it measures, each section on its own, each written to the JSON as soon as it is done (a
section that fails records its error and the others still run):

- `sampling`: best-of-K tokens/s at batch 64 (8 prompts of 40 to 600 tokens x K=8, 128 new
  tokens, T=1, top-p 0.9), our `best_of_k_generate` against the strong peer,
  `model.generate(prompts, num_return_sequences=K)` left-padded (bench/sampling.py's, in
  sampling_paths.py), on both models; medians of 3 alternating runs after a warm-up. A random model
  almost never samples EOS, so nearly every row runs its full 128 tokens on both paths.
- `reward_training`: `reward_train` pairs/s (its optimizer-step time) and peak memory with prefix
  sharing and length grouping each on and off (all four), 256 synthetic pairs (histories of 40 to
  700 tokens, replies of 10 to 200, max_length 1024), batch 32, micro-batch 8, bf16 mixed precision
  on the 1b model; then prefix sharing on and off on a 7b-shaped model cut to 4 layers.
- `ppo`: one `ppo_train` iteration on the 1b policy in bf16 autocast (64 prompts, one rollout
  each of up to 128 tokens, minibatch 32, micro-batch 8, a length-based Rc): its seconds, peak
  memory and the log-prob check (the largest |rollout log-prob - trainer log-prob| before the first
  update; the tolerance is set out of the way so the figure is recorded, not refused).

Why not the 7b model everywhere. Its bf16 weights are 13.5 GB, which sampling (and the KV cache of
64 rows) fits easily. Training it as the trainers do (fp32 master weights, gradients and AdamW's two
moments: 16 bytes a parameter) needs 108 GB before activations, and 8 pairs of 1,024 tokens through 32
layers add tens of GB more: over a 141 GB card, with no gradient checkpointing or sharding in the
reward trainer (FSDP needs several cards). PPO holds a policy, a frozen reference and the optimizer:
more again. So training is measured on the 1b model, and the 7b shape's per-layer training cost
(its width, heads and MLP) on 4 of its 32 layers; pairs/s of the whole model is roughly 4/32 of that
figure, its memory about 108 GB plus activations.

Time on an H200 (estimated; the first run says): sampling 1-2 min, reward training 3-4 min, PPO
1 min. `--budget-s` (default 570) skips the sections that would start too late, saying so.
`--cpu --tiny` uses 2-layer models (hidden 64 and 128), fewer prompts, pairs and tokens, 1 run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import transformers  # noqa: E402

from bench.gpu.gpu_sections import (  # noqa: E402
    RM_7B_LAYERS,
    SHAPES,
    TINY,
    TINY_SHAPES,
    Sizes,
    causal_lm_build,
    log,
    memory_reset,
    section_ppo,
    section_reward,
    section_sampling,
)
from reward_training.testing import tiny_tokenizer  # noqa: E402


def out_path(value: str | None) -> Path:
    """--out, else $OUT, else bench/out/gpu.json; a directory gets gpu.json inside it."""
    path = Path(value or os.environ.get("OUT") or REPO / "bench" / "out" / "gpu.json")
    return path / "gpu.json" if path.is_dir() or str(value or os.environ.get("OUT", "")).endswith("/") else path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (else CUDA is required)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and workloads (for make test)")
    parser.add_argument("--out", default=None, help="the JSON file (default: $OUT, else bench/out/gpu.json)")
    parser.add_argument("--budget-s", type=float, default=570, help="skip a section that could not finish within this")
    parser.add_argument(
        "--sections",
        default="sampling_1b,sampling_7b,reward_1b,ppo_1b,reward_7b_shaped",
        help="which sections to run, comma-separated",
    )
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        parser.exit(2, "gpu_bench: no CUDA device here; run with --cpu (and --tiny on a small machine)\n")
    device = torch.device("cpu" if args.cpu else "cuda")
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    sizes = TINY if args.tiny else Sizes()
    if args.cpu and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(min(4, os.cpu_count() or 1))
    started = time.perf_counter()
    out = out_path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    report: dict = {
        "mode": ("cpu" if args.cpu else "gpu") + ("-tiny" if args.tiny else ""),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sampling": {},
        "reward_training": {},
        "ppo": {},
        "skipped": {},
        "errors": {},
    }
    if device.type == "cuda":
        report["device_memory_gb"] = torch.cuda.get_device_properties(device).total_memory / 2**30

    def write() -> None:
        report["seconds"] = time.perf_counter() - started
        out.write_text(json.dumps(report, indent=1))

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per model load
    tokenizer = tiny_tokenizer()
    scratch = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    policy_dir, rm7_dir = scratch / "policy-1b", scratch / "rm-7b-shaped"
    combos = [dict(prefix_sharing=p, length_grouping=g) for p in (True, False) for g in (True, False)]

    def rm7_section() -> dict:
        shape = (TINY_SHAPES if args.tiny else SHAPES)["7b"]
        layers = min(RM_7B_LAYERS, shape["num_hidden_layers"])
        model = causal_lm_build(shape, tokenizer, device, dtype, num_hidden_layers=layers)
        model.save_pretrained(rm7_dir)
        tokenizer.save_pretrained(rm7_dir)
        del model
        memory_reset(device)
        result = section_reward(
            rm7_dir,
            [dict(prefix_sharing=True, length_grouping=True), dict(prefix_sharing=False, length_grouping=True)],
            args,
            sizes,
            device,
            scratch,
            f"7b-shaped, {layers} layers",
        )
        return {**result, "layers": layers, "of_layers": shape["num_hidden_layers"]}

    sections = {  # name: (where in the report, key, what to run)
        "sampling_1b": (
            "sampling",
            "1b",
            lambda: section_sampling("1b", args, sizes, device, dtype, tokenizer, policy_dir),
        ),
        "sampling_7b": ("sampling", "7b", lambda: section_sampling("7b", args, sizes, device, dtype, tokenizer, None)),
        "reward_1b": (
            "reward_training",
            "1b",
            lambda: section_reward(policy_dir, combos, args, sizes, device, scratch, "1b"),
        ),
        "ppo_1b": ("ppo", "1b", lambda: section_ppo(policy_dir, args, sizes, device, scratch)),
        "reward_7b_shaped": ("reward_training", "7b_shaped", rm7_section),
    }
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(sections))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(sections)}")
    log(f"{report['mode']} on {report['device']}: {', '.join(wanted)} -> {out}")
    try:
        for name, reserve in zip(sections, sizes.reserves):
            if name not in wanted:
                continue
            where, key, run = sections[name]
            elapsed = time.perf_counter() - started
            if elapsed + reserve > args.budget_s:
                report["skipped"][name] = (
                    f"{elapsed:.0f} s gone of the {args.budget_s:.0f} s budget; it needs up to {reserve} s"
                )
                log(f"{name}: skipped ({report['skipped'][name]})")
                continue
            if name in ("reward_1b", "ppo_1b") and not (policy_dir / "config.json").is_file():
                report["skipped"][name] = "the 1b model was not built (sampling_1b did not run)"
                continue
            log(f"{name}: starting")
            began = time.perf_counter()
            try:
                report[where][key] = {**run(), "section_seconds": time.perf_counter() - began}
            except Exception as error:  # one broken section must not cost the others on a lent card
                report["errors"][name] = f"{type(error).__name__}: {error}"
                log(f"{name} failed:\n{traceback.format_exc()}")
                memory_reset(device)
            write()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        write()
    log(f"done in {time.perf_counter() - started:.0f} s; wrote {out}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
