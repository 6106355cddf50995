"""Turn latency through the real stack (gunicorn + one Celery worker + Postgres + Redis), sampling two
replies per turn with the built-in chat model, SmolLM2-135M-Instruct, as `make demo` registers it.

    .venv/bin/python bench/turn_latency.py [--turns 20] [--max-new-tokens 128] [--model DIR] [--worker-threads 2]

Prints one JSON line. Each turn is a new dialogue with a held-out prompt. Two clocks start at the POST
that creates the turn: the first streamed token is the first GET whose `partial` replies hold text;
complete is the first GET that sees the turn `ready`. The turn is polled every 300 ms, as the annotator's
page polls it (a tighter loop would load the 2-core machine it measures). Both include queueing, the
database writes and both replies; the first turn, which loads the model in the worker, is reported apart.
The worker runs as `celery -A webapp worker --pool=solo` with `--worker-threads` torch threads.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import Stack  # noqa: E402

HELDOUT = ROOT / "assets" / "prompts" / "heldout.jsonl"
POLL_S = 0.3  # the annotator page's polling interval while a turn samples (annotation/static/annotation/dialogue.js)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--model", help="a Hugging Face model directory (default: the built-in SmolLM2)")
    parser.add_argument("--worker-threads", type=int, default=2, help="OMP_NUM_THREADS of the worker")
    args = parser.parse_args()
    from reward_training.generation.gguf import smollm2_converted

    model = Path(args.model) if args.model else smollm2_converted(ROOT / "var" / "models")
    prompts = [json.loads(line)["prompt"] for line in HELDOUT.read_text().splitlines() if line.strip()]
    first_token, complete, tokens = [], [], []
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), redis_db=9)
        stack.env["OMP_NUM_THREADS"] = str(args.worker_threads)
        try:
            stack.start()
            stack.worker_start()
            stack.manage("create_user", "--username", "ann", "--password", "bench-pw-123", "--role", "annotator")
            stack.manage("register_model", "--kind", "policy", "--name", "chat", "--path", str(model), "--current")
            stack.manage(
                "create_batch",
                "--name",
                "bench",
                "--track",
                "helpfulness",
                "--policy",
                "chat",
                "--temperatures",
                "0.7,1.2",
                "--target",
                str(args.turns + 1),
                "--max-new-tokens",
                str(args.max_new_tokens),
                "--activate",
            )
            api = stack.client("ann", "bench-pw-123")
            for i in range(args.turns + 1):  # the first turn loads the model and is reported apart
                dialogue = api.post("/api/dialogues/", {"track": "helpfulness"}).json()["id"]
                started = time.perf_counter()
                turn = api.post(f"/api/dialogues/{dialogue}/turns/", {"prompt": prompts[i % len(prompts)]}).json()
                first = None
                while True:
                    turn = api.get(f"/api/turns/{turn['id']}/").json()
                    if first is None and (
                        any(p["text"] for p in turn.get("partial") or []) or turn["status"] != "sampling"
                    ):
                        first = time.perf_counter() - started
                    if turn["status"] != "sampling":
                        break
                    time.sleep(POLL_S)
                if turn["status"] != "ready":
                    raise SystemExit(f"turn {turn['id']} ended {turn['status']}: {turn['error']}")
                first_token.append(first)
                complete.append(time.perf_counter() - started)
                tokens.append([r["completion_tokens"] for r in turn["responses"]])
        finally:
            stack.stop()
    timed, timed_first = complete[1:], first_token[1:]
    print(
        json.dumps(
            {
                "model": str(model),
                "turns": args.turns,
                "max_new_tokens": args.max_new_tokens,
                "worker_threads": args.worker_threads,
                "first_turn_s": round(complete[0], 3),
                "first_token_median_s": round(statistics.median(timed_first), 3),
                "first_token_p90_s": round(percentile(timed_first, 0.9), 3),
                "complete_median_s": round(statistics.median(timed), 3),
                "complete_p90_s": round(percentile(timed, 0.9), 3),
                "longer_reply_tokens_median": statistics.median(max(t) for t in tokens[1:]),
                "turns_with_a_reply_at_the_budget": sum(max(t) >= args.max_new_tokens for t in tokens[1:]),
            }
        )
    )


if __name__ == "__main__":
    main()
