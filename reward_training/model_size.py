"""Settings that the Llama 2 paper gives by model size, derived from a parameter count.

The paper gives two such settings (sections 3.2.2 and 3.2.3): PPO's KL penalty β
(0.01 for 7B/13B, 0.005 for 34B/70B) and the reward model's peak learning rate (1e-5, 5e-6 for the
largest model). A config leaves them None to have them derived here; each trainer counts the model
it loaded and records the value it chose with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn


def parameter_count(model: nn.Module) -> int:
    """Parameters of a module, each shared (tied) tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def parameter_count_from_config(model_dir: str | Path) -> int:
    """Parameters of the Hugging Face model in `model_dir`, counted from its config.json alone: the model is
    built on the meta device, so no weight is read or allocated (seconds, even for 70B)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    with init_empty_weights():
        model = AutoModel.from_config(config)
    return parameter_count(model)


def parameters_text(n: int) -> str:
    """2.4M, 6.7B: a parameter count as the paper writes model sizes."""
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M"


def by_size(n_params: int, *, threshold: float, large: float, small: float, what: str) -> dict[str, Any]:
    """`large` from `threshold` parameters on, else `small`, with the reason in words:
    {"value", "parameters", "reason"}."""
    big = n_params >= threshold
    value = large if big else small
    side = "at least" if big else "under"
    return {
        "value": value,
        "parameters": n_params,
        "reason": f"{what} {value:g} derived from the model size: {parameters_text(n_params)} parameters, {side} "
        f"{parameters_text(int(threshold))} (paper: {small:g} under {parameters_text(int(threshold))}, "
        f"{large:g} from it on)",
    }


def explicit(value: float, what: str) -> dict[str, Any]:
    return {"value": value, "parameters": None, "reason": f"{what} {value:g} set explicitly"}
