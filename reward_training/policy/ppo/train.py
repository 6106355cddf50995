"""Command-line entry point of PPO; `accelerate launch` runs it unchanged.

    python -m reward_training.policy.ppo.train --policy DIR --helpfulness-rm DIR --safety-rm DIR \\
        --prompts FILE [--heldout FILE] --output DIR [--config ppo.json] [--<any PPOConfig field> VALUE]
    accelerate launch --num_processes 8 -m reward_training.policy.ppo.train ...

Settings: PPOConfig defaults < --config JSON file < flags. Prompt files are read with
data.prompts.prompts_read (plain text or JSONL). Ends with one JSON line on stdout (main process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from reward_training.config import config_argparse, config_build
from reward_training.policy.ppo.ppo_config import PPOConfig


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="PPO with the Llama 2 reward (section 3.2.3).")
    parser.add_argument("--policy", required=True, help="the policy to start from (Hugging Face directory)")
    parser.add_argument("--helpfulness-rm", required=True, help="helpfulness reward model directory")
    parser.add_argument("--safety-rm", required=True, help="safety reward model directory")
    parser.add_argument("--prompts", required=True, help="training prompt file (.txt or .jsonl)")
    parser.add_argument("--heldout", help="held-out prompt file for early stopping")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--config", help="JSON file of PPOConfig fields")
    return config_argparse(parser, PPOConfig)


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    names = {f.name for f in dataclasses.fields(PPOConfig)}
    try:
        config = config_build(PPOConfig, file=args.config, **{k: v for k, v in vars(args).items() if k in names})
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from accelerate import PartialState

    from reward_training.data.prompts import prompts_read
    from reward_training.policy.ppo.trainer import ppo_train  # heavy imports after argument checks

    summary = ppo_train(
        config,
        policy_dir=args.policy,
        helpfulness_rm_dir=args.helpfulness_rm,
        safety_rm_dir=args.safety_rm,
        prompts=prompts_read(args.prompts),
        heldout_prompts=prompts_read(args.heldout) if args.heldout else None,
        output_dir=args.output,
    )
    if PartialState().is_main_process:
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
