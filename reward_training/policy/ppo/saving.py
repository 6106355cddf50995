"""PPO's output directory: the policy in Hugging Face format (+ value head), ppo_config.json and the
reports (metrics JSONL, curves PNG, ppo_summary.json), written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from reward_training.config import config_dict
from reward_training.io import directory_write_atomic
from reward_training.policy.ppo.models import PolicyModel
from reward_training.policy.ppo.ppo_config import PPOConfig
from reward_training.policy.ppo.report import CURVES_FILE, curves_plot, metrics_write

CONFIG_FILE = "ppo_config.json"
SUMMARY_FILE = "ppo_summary.json"
VALUE_HEAD_FILE = "value_head.pt"


def policy_save(
    accelerator: Accelerator,
    wrapped_policy: torch.nn.Module,
    policy: PolicyModel,
    tokenizer: Any,
    config: PPOConfig,
    output_dir: Path,
    history: list[dict[str, Any]],
    summary: dict[str, Any],
) -> None:
    """The policy in Hugging Face format (+ value head, config, metrics, curves), written atomically."""
    state = accelerator.get_state_dict(wrapped_policy)  # on every process: sharded setups gather here
    if accelerator.is_main_process:
        lm_state = {k[len("lm.") :]: v for k, v in state.items() if k.startswith("lm.")}

        def write(tmp: Path) -> None:
            policy.lm.save_pretrained(tmp, state_dict=lm_state)
            tokenizer.save_pretrained(tmp)
            if policy.value_head is not None:
                torch.save(
                    {k[len("value_head.") :]: v for k, v in state.items() if k.startswith("value_head.")},
                    tmp / VALUE_HEAD_FILE,
                )
            (tmp / CONFIG_FILE).write_text(json.dumps(config_dict(config), indent=1))
            reports_write(tmp, history, summary)

        directory_write_atomic(output_dir, write)
    accelerator.wait_for_everyone()


def reports_write(directory: Path, history: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    metrics_write(directory, history)
    if history:
        curves_plot(history, directory / CURVES_FILE, "PPO (Llama 2 reward)", summary.get("initial_heldout_reward"))
    (directory / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str))
