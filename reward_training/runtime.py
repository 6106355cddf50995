"""Device and precision choice: CUDA with bf16 where present, else CPU with float32."""

from __future__ import annotations

import torch


def device_pick(prefer: str | None = None) -> torch.device:
    """The device to run on: `prefer` if given ("cpu", "cuda", "cuda:1"), else CUDA when available."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype_pick(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (where supported), float32 on CPU."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
