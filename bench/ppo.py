"""PPO on the built-in demo model, measured (CPU is enough).

    .venv/bin/python bench/ppo.py [--iterations 20] [--batch-size 32] [--minibatch-size 8]
                                  [--max-new-tokens 32] [--lr 5e-5]

The reward is the preference oracle's score squashed into (0, 1) (Rc = sigmoid(score)), i.e. PPO with
a perfect reward model: an upper bound on what the RM-driven loop (`run_iteration --simulate --ppo`)
can get from the same PPO settings. Train prompts: assets/prompts/rejection_sampling.jsonl; held-out
helpfulness prompts 0-39 of assets/prompts/heldout.jsonl (the former heldout.txt, in its order) drive
early stopping, helpfulness prompts 40-199 measure the oracle
win rate of the PPO policy over the demo model it started from (one sample each, same seeds, ties
count one half, 95% Wilson interval).

Writes bench/out/ppo/ (the policy, ppo_metrics.jsonl, ppo_curves.png) and prints a JSON summary.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from annotation.simulation.oracle import oracle_score  # noqa: E402  (bench only: training code never sees it)
from reward_training.data.prompts import prompts_read  # noqa: E402
from reward_training.evaluation.win_rate import outcome, win_rate  # noqa: E402
from reward_training.generation import best_of_k_generate, model_load  # noqa: E402
from reward_training.policy.ppo import PPOConfig, ppo_train  # noqa: E402


def oracle_rc(prompts, texts, ids):
    return torch.tensor(
        [1.0 / (1.0 + math.exp(-oracle_score(t, p.messages[-1]["content"]))) for p, t in zip(prompts, texts)]
    )


def samples(model_dir, prompts, max_new_tokens, seed):
    loaded = model_load(model_dir, device="cpu")
    rows = best_of_k_generate(
        loaded,
        [p.messages for p in prompts],
        k=1,
        temperature=1.0,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_size=32,
    )
    return [row[0].text for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--minibatch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--output", default=str(ROOT / "bench" / "out" / "ppo"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    policy = ROOT / "assets" / "demo-chat"
    train = prompts_read(ROOT / "assets" / "prompts" / "rejection_sampling.jsonl")
    heldout = [p for p in prompts_read(ROOT / "assets" / "prompts" / "heldout.jsonl") if not p.safety]
    config = PPOConfig(
        iterations=args.iterations,
        batch_size=args.batch_size,
        minibatch_size=args.minibatch_size,
        micro_batch_size=args.minibatch_size,
        learning_rate=args.lr,
        beta=args.beta,
        max_new_tokens=args.max_new_tokens,
        eval_every=5,
        early_stopping_patience=3,
        generation_batch_size=32,
        seed=args.seed,
        device="cpu",
    )
    started = time.perf_counter()
    summary = ppo_train(
        config,
        policy_dir=policy,
        prompts=train,
        heldout_prompts=heldout[:40],
        output_dir=args.output,
        reward_fn=oracle_rc,
    )
    train_seconds = time.perf_counter() - started

    judged = heldout[40:]
    before = samples(policy, judged, args.max_new_tokens, seed=12345)
    after = samples(args.output, judged, args.max_new_tokens, seed=12345)
    questions = [p.messages[-1]["content"] for p in judged]
    score_after = [oracle_score(a, q) for a, q in zip(after, questions)]
    score_before = [oracle_score(b, q) for b, q in zip(before, questions)]
    rate = win_rate([outcome(a, b) for a, b in zip(score_after, score_before)])
    history = summary["history"]
    first, last = history[:5], history[-5:]
    print(
        json.dumps(
            {
                "iterations_run": summary["iterations_run"],
                "best_iteration": summary.get("best_iteration"),
                "stopped_early": summary["stopped_early"],
                "train_seconds": round(train_seconds, 1),
                "seconds_per_iteration": round(sum(h["seconds"] for h in history) / len(history), 2),
                "reward_first5": sum(h["reward"] for h in first) / len(first),
                "reward_last5": sum(h["reward"] for h in last) / len(last),
                "kl_max": max(h["kl"] for h in history),
                "logprob_max_diff": max(h["logprob_max_diff"] for h in history),
                "heldout_rewards": summary.get("heldout_rewards"),
                "oracle_score_before": sum(score_before) / len(before),
                "oracle_score_after": sum(score_after) / len(after),
                "oracle_win_rate": rate.as_dict(),
                "config": {
                    "lr": args.lr,
                    "beta": args.beta,
                    "batch_size": args.batch_size,
                    "minibatch_size": args.minibatch_size,
                    "max_new_tokens": args.max_new_tokens,
                    "seed": args.seed,
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
