"""The closed loop, measured: consecutive `run_iteration --simulate` runs with the built-in demo model on
a live stack (gunicorn + a real Celery worker + Postgres + Redis).

    .venv/bin/python bench/loop.py [--iterations 2] [--users 4] [--comparisons 25] [--k 8]

Each iteration opens a batch per track sampling the current policy, lets simulated annotators fill it
over the REST API, trains both reward models on everything so far (plus Anthropic HH-harmless imported
as open-source safety data), refreshes the policy by rejection sampling, and reports the win rate of
the new policy over its predecessor on 200 held-out prompts, judged by the reward models and by the
oracle. Afterwards every version is compared with the starting model (paper Fig. 11).

Writes bench/out/loop.json and docs/loop_win_rates.png, and prints a JSON summary.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import Stack  # noqa: E402

HH = ROOT / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"
HELDOUT = ROOT / "assets" / "prompts" / "heldout.txt"


def plot(results: list[dict], versus_start: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, rows, title in ((axes[0], results, "new policy vs its predecessor"),
                            (axes[1], versus_start, "each version vs the starting model")):
        xs = [r["iteration"] for r in rows]
        for key, label in (("oracle_win_rate", "oracle"), ("rm_win_rate", "reward models")):
            ys = [r[key] for r in rows]
            low = [r[key] - r[key + "_ci95"][0] for r in rows]
            high = [r[key + "_ci95"][1] - r[key] for r in rows]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--comparisons", type=int, default=25)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--heldout-limit", type=int, default=200)
    parser.add_argument("--rm-base", help="reward-model base (default: the current policy)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more run_iteration flags")
    args = parser.parse_args()
    started = time.perf_counter()
    results, versus_start = [], []
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), redis_db=13)
        try:
            stack.start()
            stack.worker_start()
            stack.manage("register_model", "--kind", "policy", "--name", "demo-chat-v0", "--path",
                         str(ROOT / "assets" / "demo-chat"), "--current")
            stack.manage("import_preferences", "--format", "hh-rlhf", "--source", "anthropic-hh-harmless",
                         "--track", "safety", str(HH))
            for _ in range(args.iterations):
                flags = ["--users", str(args.users), "--comparisons", str(args.comparisons), "--k", str(args.k),
                         "--temperature", str(args.temperature), "--heldout-limit", str(args.heldout_limit),
                         *(["--rm-base", args.rm_base] if args.rm_base else []), *args.extra]
                result = stack.manage("run_iteration", "--simulate", "--url", stack.url, *flags, timeout=4 * 3600)
                results.append(result)
                print(json.dumps({k: result[k] for k in ("iteration", "policy", "promoted", "rm_win_rate",
                                                         "oracle_win_rate", "seconds")}), file=sys.stderr)
            for result in results:
                compared = stack.manage("evaluate_policy", "--policy", result["policy"], "--baseline",
                                        "demo-chat-v0", "--prompts", str(HELDOUT), "--limit", str(args.heldout_limit),
                                        timeout=3600)
                versus_start.append({"iteration": result["iteration"], **compared})
            lineage = stack.manage("list_models", "--kind", "policy")
        finally:
            stack.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop.json").write_text(json.dumps({"iterations": results, "versus_start": versus_start,
                                               "policies": lineage}, indent=1, default=str))
    plot(results, versus_start, ROOT / "docs" / "loop_win_rates.png")
    summary = {
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "iterations": [{k: r[k] for k in ("iteration", "policy", "parent", "promoted", "rm_win_rate",
                                          "rm_win_rate_ci95", "oracle_win_rate", "oracle_win_rate_ci95",
                                          "heldout_prompts")} for r in results],
        "versus_start": [{k: r[k] for k in ("iteration", "policy", "oracle_win_rate", "oracle_win_rate_ci95",
                                            "rm_win_rate")} for r in versus_start],
        "lineage": [{k: m[k] for k in ("name", "parent", "current")} for m in lineage],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
