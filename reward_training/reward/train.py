"""Command-line entry point of reward-model training; `accelerate launch` runs it unchanged.

    python -m reward_training.reward.train --base-model DIR --output-dir DIR --data FILE [--data FILE ...] \\
        [--format trl|hh-rlhf] [--eval FILE] [--config cfg.json] [--<any RewardConfig field> VALUE]
    accelerate launch --num_processes 2 -m reward_training.reward.train ...

Settings: RewardConfig defaults < --config JSON file < flags. Ends with one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from reward_training.config import config_argparse, config_build
from reward_training.reward.reward_config import RewardConfig


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train a reward model (Llama 2, section 3.2.2).")
    parser.add_argument("--config", help="JSON file of RewardConfig fields")
    parser.add_argument("--data", action="append", required=True, help="training file (repeatable)")
    parser.add_argument("--format", default="trl", choices=("trl", "hh-rlhf"), help="format of the data files")
    parser.add_argument("--eval", help="held-out file to report accuracy on")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return config_argparse(parser, RewardConfig)


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    names = {f.name for f in dataclasses.fields(RewardConfig)}
    try:
        config = config_build(RewardConfig, file=args.config, **{k: v for k, v in vars(args).items() if k in names})
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from reward_training.reward.api import train_reward_model  # heavy imports after argument checks

    result = train_reward_model(config, args.data, args.format, eval_file=args.eval, progress=not args.no_progress)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
