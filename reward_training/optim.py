"""Optimizer helpers that every trainer here shares (reward models, SFT, PPO)."""

from __future__ import annotations

from typing import Any

import torch


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on matrices only, not on biases and norm weights (as in
    Hugging Face's Trainer and TRL; Llama 2 uses weight decay 0.1). Frozen parameters are left out."""
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
