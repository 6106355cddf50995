"""Median time from turn creation to `ready`, through the real stack (gunicorn + a Celery worker + Postgres
+ Redis), sampling two responses per turn with the built-in demo chat model.

    .venv/bin/python bench/turn_latency.py [--turns 20] [--max-new-tokens 96]

Prints one JSON line. The clock runs from the POST that creates the turn to the first GET that sees it
`ready` (polled every 50 ms), so it includes queueing, model loading on the first turn (reported apart),
generation of both samples and the database writes.
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

PROMPTS = ["What is the capital of France?", "How do I make tea?", "Tell me a joke about cats.",
           "What should I cook tonight?", "How can I sleep better?", "Why is the sky blue?",
           "Give me a tip for studying.", "What is a good name for a dog?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), redis_db=9)
        try:
            stack.start()
            stack.worker_start()
            stack.manage("create_user", "--username", "ann", "--password", "pw", "--role", "annotator")
            stack.manage("register_model", "--kind", "policy", "--name", "demo", "--path",
                         str(ROOT / "assets" / "demo-chat"), "--current")
            stack.manage("create_batch", "--name", "bench", "--track", "helpfulness", "--policy", "demo",
                         "--temperatures", "0.7,1.2", "--target", str(args.turns), "--max-new-tokens",
                         str(args.max_new_tokens), "--activate")
            api = stack.client("ann", "pw")
            seconds = []
            for i in range(args.turns + 1):  # the first turn loads the model and is reported apart
                dialogue = api.post("/api/dialogues/", {"track": "helpfulness"}).json()["id"]
                started = time.perf_counter()
                turn = api.post(f"/api/dialogues/{dialogue}/turns/", {"prompt": PROMPTS[i % len(PROMPTS)]}).json()
                while api.get(f"/api/turns/{turn['id']}/").json()["status"] == "sampling":
                    time.sleep(0.05)
                seconds.append(time.perf_counter() - started)
        finally:
            stack.stop()
    print(json.dumps({"turns": args.turns, "max_new_tokens": args.max_new_tokens,
                      "first_turn_s": round(seconds[0], 3), "median_s": round(statistics.median(seconds[1:]), 3),
                      "p90_s": round(sorted(seconds[1:])[int(0.9 * (len(seconds) - 2))], 3)}))


if __name__ == "__main__":
    main()
