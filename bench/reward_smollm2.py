"""Reward model on the chat checkpoint: `train_reward_model --base <converted SmolLM2-135M-Instruct>`,
pairs/s with prefix sharing on (the default) and off.

    python bench/reward_smollm2.py                     # 3 alternating runs each, first 24 HH pairs
    python bench/reward_smollm2.py --pairs 64 --runs 1

Each run is the README command run as a user would, a subprocess of manage.py:

    manage.py train_reward_model --kind safety --base var/models/smollm2-135m-instruct
        --data <first N HH-harmless pairs> --format hh-rlhf --output <tmp> --batch-size 8
        --micro-batch-size 8 --epochs 1 [--config {"prefix_sharing": false}] [--eval <held-out pairs>]

Held equal: the pairs (the first N lines of the shared HH harmless file, as written), batch 8 pairs
without accumulation, one epoch, the default max length (1,024; no HH pair in the slice reaches it),
fp32, seed 0 and every other RewardConfig default; the two settings alternate run by run. The only
difference is `prefix_sharing`. Throughput is the command's `pairs_per_second`: pairs over the summed
optimizer-step times (model loading, tokenisation, the final save and --eval left out). Pairs per
CPU-second is printed beside it, and the load average before and after each run, since the machine
may be shared. The first run of each setting also scores a held-out slice (the last M pairs of the
file) with --eval, to show the trained model is usable and that the two settings train alike.

The converted checkpoint is (re)made with gguf_convert, so the script works from a fresh clone after
`make demo`. It needs no database: a model directory as --base and no --register.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"
BATCH = 8
SETTINGS = {"prefix sharing on": {}, "prefix sharing off": {"prefix_sharing": False}}


def checkpoint_ready() -> str:
    """The converted SmolLM2-135M-Instruct directory (idempotent: converts only when missing or stale)."""
    from reward_training.generation.gguf import smollm2_converted

    return str(smollm2_converted(REPO / "var" / "models"))


def slices_write(data: Path, n_train: int, n_eval: int, folder: Path) -> tuple[Path, Path]:
    """The first n_train and the last n_eval lines of the HH file, unchanged, as two .jsonl files."""
    with gzip.open(data, "rt", encoding="utf-8") if data.suffix == ".gz" else data.open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    if n_train + n_eval > len(lines):
        raise SystemExit(f"{data} has {len(lines)} pairs, fewer than {n_train} + {n_eval}")
    train, evaluate = folder / f"train_1-{n_train}.jsonl", folder / f"eval_{len(lines) - n_eval + 1}-{len(lines)}.jsonl"
    train.write_text("".join(lines[:n_train]), encoding="utf-8")
    evaluate.write_text("".join(lines[len(lines) - n_eval :]), encoding="utf-8")  # empty when n_eval is 0
    return train, evaluate


def command_build(base: str, train: Path, output: Path, config: Path | None, evaluate: Path | None) -> list[str]:
    command = [
        sys.executable, "manage.py", "train_reward_model", "--kind", "safety", "--base", base,
        "--data", str(train), "--format", "hh-rlhf", "--output", str(output),
        "--batch-size", str(BATCH), "--micro-batch-size", str(BATCH), "--epochs", "1",
    ]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]
    if evaluate is not None:
        command += ["--eval", str(evaluate)]
    return command


def run_once(command: list[str], env: dict[str, str], output: Path) -> dict:
    load_before = os.getloadavg()
    began = time.perf_counter()
    child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    load_after = os.getloadavg()
    if child.returncode != 0:
        raise RuntimeError(
            f"run failed ({child.returncode}): {' '.join(command)}\n{child.stderr[-4000:]}\n{child.stdout[-2000:]}"
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])  # the command prints one JSON line at the end
    config = json.loads((output / "reward_config.json").read_text())
    return {
        "pairs": result["n_train_pairs"],
        "steps": result["steps"],
        "prefix_sharing": result["prefix_sharing"],
        "seconds": result["train_seconds"],
        "cpu_seconds": result["train_cpu_seconds"],
        "pairs_per_second": result["pairs_per_second"],
        "pairs_per_cpu_second": result["n_train_pairs"] / result["train_cpu_seconds"],
        "train_loss": result["train_loss"],
        "accuracy": result.get("accuracy"),
        "accuracy_ci95": result.get("accuracy_ci95"),
        "n_eval": result.get("n_eval"),
        "process_seconds": wall,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "config": config,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=24, help="train on the first N pairs of the file")
    parser.add_argument(
        "--eval-pairs", type=int, default=32, help="held-out: the last M pairs of the file (0: no --eval)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per setting, alternating")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of each run")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    import torch

    base = checkpoint_ready()
    print(
        "# reward model on SmolLM2-135M-Instruct: prefix sharing on vs off  "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print(
        f"# machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPU cores, "
        f"CUDA: {torch.cuda.is_available()}, torch {torch.__version__}, OMP_NUM_THREADS={args.threads}"
    )
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    with tempfile.TemporaryDirectory(prefix="rm-smollm2-") as tmp:
        folder = Path(tmp)
        train, evaluate = slices_write(args.data, args.pairs, args.eval_pairs, folder)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": str(args.threads),
            # --base is a directory, no --register: no database
            "DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}",
            "PYTHONPATH": str(REPO),
        }
        configs = {}
        for name, switches in SETTINGS.items():
            if switches:
                configs[name] = folder / f"{name.replace(' ', '_')}.json"
                configs[name].write_text(json.dumps(switches))
            else:
                configs[name] = None
        results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        for run in range(args.runs):
            for name in SETTINGS:  # alternating
                output = folder / f"out-{run}-{name.replace(' ', '_')}"
                scored = evaluate if run == 0 and args.eval_pairs else None
                command = command_build(base, train, output, configs[name], scored)
                if run == 0:
                    print(
                        f"  command ({name}): HF_HUB_OFFLINE=1 OMP_NUM_THREADS={args.threads} "
                        f"{' '.join(command)}"
                        + (f"  # {configs[name].name}: {configs[name].read_text()}" if configs[name] else ""),
                        flush=True,
                    )
                result = run_once(command, env, output)
                shutil.rmtree(output, ignore_errors=True)  # 0.5 GB of weights per run
                results[name].append(result)
                line = (
                    f"run {run + 1} {name}: {result['pairs']} pairs, {result['steps']} steps "
                    f"in {result['seconds']:.1f} s = {result['pairs_per_second']:.3f} pairs/s "
                    f"({result['pairs_per_cpu_second']:.3f} pairs per CPU-second); "
                    f"train loss {result['train_loss']:.4f}; load {result['load_before']} -> {result['load_after']}; "
                    f"process {result['process_seconds']:.0f} s"
                )
                if result["accuracy"] is not None:
                    low, high = result["accuracy_ci95"]
                    line += (
                        f"; held-out accuracy {100 * result['accuracy']:.1f}% "
                        f"(95% CI {100 * low:.1f}-{100 * high:.1f}, n={result['n_eval']})"
                    )
                print(line, flush=True)
                if run == 0:
                    print(f"  config ({name}): {json.dumps(result['config'])}", flush=True)
    on, off = (statistics.median(r["pairs_per_second"] for r in results[n]) for n in SETTINGS)
    on_cpu, off_cpu = (statistics.median(r["pairs_per_cpu_second"] for r in results[n]) for n in SETTINGS)
    summary = {
        "model": "SmolLM2-135M-Instruct",
        "pairs": args.pairs,
        "batch_size": BATCH,
        "threads": args.threads,
        "runs": args.runs,
        "pairs_per_second_prefix_sharing": on,
        "pairs_per_second_no_prefix_sharing": off,
        "ratio": on / off,
        "pairs_per_cpu_second_prefix_sharing": on_cpu,
        "pairs_per_cpu_second_no_prefix_sharing": off_cpu,
        "cpu_ratio": on_cpu / off_cpu,
        "accuracy": {n: rs[0]["accuracy"] for n, rs in results.items()},
        "accuracy_ci95": {n: rs[0]["accuracy_ci95"] for n, rs in results.items()},
        "n_eval": args.eval_pairs,
        "per_run": {
            n: [
                {k: r[k] for k in ("pairs_per_second", "pairs_per_cpu_second", "seconds", "load_before", "load_after")}
                for r in rs
            ]
            for n, rs in results.items()
        },
    }
    print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
