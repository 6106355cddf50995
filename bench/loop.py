"""The closed loop, measured: consecutive `run_iteration --simulate` runs from the demo model or SmolLM2 on
a live stack (gunicorn + a real Celery worker + Postgres + Redis).

    .venv/bin/python bench/loop.py [--iterations 2] [--users 4] [--comparisons N] [--policy demo|smollm2]

Each iteration opens a batch per track sampling the current policy, lets simulated annotators fill it
over the REST API, trains both reward models on everything so far (plus, with --hh-pairs, pairs of
Anthropic HH-harmless imported as open-source safety data), refreshes the policy by rejection
sampling, and reports the win rate of the new policy over its predecessor on 200 held-out prompts,
judged by the reward models and by the oracle. Afterwards every version is compared with the starting
model (paper Fig. 11).

Every training setting is run_iteration's default (on a CPU machine: MiniLM reward models, K=16, ...); this
script only scales the run. `--extra FLAG ...` passes run_iteration flags for an experiment away from them.

Writes bench/out/loop.json and docs/loop_win_rates.png (see --out, --plot), and prints a JSON summary.
With `--iterations 1 --extra --ppo` it measures PPO on top of the rejection-sampling policy (issue 7).
"""

import argparse
import gzip
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import Stack  # noqa: E402

HH = ROOT / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"
HELDOUT = ROOT / "assets" / "prompts" / "heldout.jsonl"  # 20% safety prompts: win rates come by kind too


def plot(results: list[dict], versus_start: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, rows, title in (
        (axes[0], results, "new policy vs its predecessor"),
        (axes[1], versus_start, "each version vs the starting model"),
    ):
        xs = [r["iteration"] for r in rows]
        for key, label in (("oracle_win_rate", "oracle"), ("rm_win_rate", "reward models")):
            ys = [r[key] for r in rows]
            low = [max(0.0, r[key] - r[key + "_ci95"][0]) for r in rows]
            high = [max(0.0, r[key + "_ci95"][1] - r[key]) for r in rows]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=4, label=label)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_xticks(xs)
        ax.set_xlabel("RLHF iteration")
        ax.set_ylabel("win rate (95% CI)")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def start_policy(name: str) -> tuple[str, Path]:
    """The model the loop starts from: the 2.4M demo model, or the built-in SmolLM2 (converted once)."""
    if name == "demo":
        return "demo-chat-v0", ROOT / "assets" / "demo-chat"
    from reward_training.generation.gguf import SMOLLM2_NAME, smollm2_converted

    return SMOLLM2_NAME, smollm2_converted(ROOT / "var" / "models")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument(
        "--policy",
        choices=["demo", "smollm2"],
        default="demo",
        help="the starting policy: the 2.4M demo model or the built-in SmolLM2-135M-Instruct",
    )
    # scale only: every training setting is run_iteration's default (issue 18: the defaults must do)
    parser.add_argument("--users", type=int, default=4, help="simulated annotators per track")
    parser.add_argument("--comparisons", type=int, help="per annotator and track (default: run_iteration's)")
    parser.add_argument("--heldout-limit", type=int, default=200, help="held-out prompts the win rates use")
    parser.add_argument(
        "--hh-pairs",
        type=int,
        default=0,
        help="Anthropic HH-harmless pairs to import as open-source safety data (default none: they "
        "are off-distribution for the oracle and, at this scale, dilute its signal)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "loop.json"), help="where the full results go")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "loop_win_rates.png"), help="win-rate PNG ('' for none)")
    parser.add_argument("--redis-db", type=int, default=13, help="a Redis database no other stack uses")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads per stack process (default: all cores; the test stack's 1 halves the speed)",
    )
    parser.add_argument(
        "--extra",
        nargs=argparse.REMAINDER,
        default=[],
        help="run_iteration flags for an experiment away from the defaults (say so beside its figures)",
    )
    args = parser.parse_args()
    start_name, start_path = start_policy(args.policy)
    started = time.perf_counter()
    results, versus_start = [], []
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(
            Path(workdir),
            redis_db=args.redis_db,
            worker_env={
                "OMP_NUM_THREADS": str(args.threads),
                # the production sweep, not the test stack's 15 s: a real model's turn on a busy CPU can take
                # longer than that, and the sweep would spend its attempts re-queueing turns still being sampled
                "SAMPLING_REQUEUE_AFTER_S": "330",
                "SAMPLING_SWEEP_EVERY_S": "15",
            },
        )
        try:
            stack.start()
            stack.worker_start()
            stack.manage(
                "register_model", "--kind", "policy", "--name", start_name, "--path", str(start_path), "--current"
            )
            if args.hh_pairs:
                subset = Path(workdir) / "hh-harmless.jsonl"
                with gzip.open(HH, "rt", encoding="utf-8") as rows:
                    subset.write_text("".join(itertools.islice(rows, args.hh_pairs)), encoding="utf-8")
                stack.manage(
                    "import_preferences",
                    "--format",
                    "hh-rlhf",
                    "--source",
                    "anthropic-hh-harmless",
                    "--track",
                    "safety",
                    "--skip-empty",
                    str(subset),
                )
            for _ in range(args.iterations):
                flags = [
                    "--users",
                    str(args.users),
                    *(["--comparisons", str(args.comparisons)] if args.comparisons else []),
                    "--heldout-limit",
                    str(args.heldout_limit),
                    *args.extra,
                ]
                result = stack.manage("run_iteration", "--simulate", "--url", stack.url, *flags, timeout=4 * 3600)
                results.append(result)
                print(
                    json.dumps(
                        {
                            k: result[k]
                            for k in ("iteration", "policy", "promoted", "rm_win_rate", "oracle_win_rate", "seconds")
                        }
                    ),
                    file=sys.stderr,
                )
            for result in results:
                if result["parent"] == start_name:  # already compared with the starting model
                    versus_start.append(
                        {
                            "iteration": result["iteration"],
                            "policy": result["policy"],
                            **{k: v for k, v in result.items() if "win_rate" in k},
                        }
                    )
                    continue
                compared = stack.manage(
                    "evaluate_policy",
                    "--policy",
                    result["policy"],
                    "--baseline",
                    start_name,
                    "--prompts",
                    str(HELDOUT),
                    "--limit",
                    str(args.heldout_limit),
                    timeout=3600,
                )
                versus_start.append({"iteration": result["iteration"], **compared})
            lineage = stack.manage("list_models", "--kind", "policy")
        finally:
            stack.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"iterations": results, "versus_start": versus_start, "policies": lineage}, indent=1, default=str)
    )
    if args.plot:
        plot(results, versus_start, Path(args.plot))
    summary = {
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "iterations": [
            {
                k: r[k]
                for k in (
                    "iteration",
                    "policy",
                    "parent",
                    "promoted",
                    "rm_win_rate",
                    "rm_win_rate_ci95",
                    "oracle_win_rate",
                    "oracle_win_rate_ci95",
                    "heldout_prompts",
                    "seconds",
                )
            }
            for r in results
        ],
        "versus_start": [
            {k: r[k] for k in ("iteration", "policy", "oracle_win_rate", "oracle_win_rate_ci95", "rm_win_rate")}
            for r in versus_start
        ],
        "lineage": [{k: m[k] for k in ("name", "parent", "current")} for m in lineage],
        "ppo": [r["ppo"] for r in results if r.get("ppo")],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
