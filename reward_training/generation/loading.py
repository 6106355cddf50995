"""Loading a causal LM and its tokenizer for generation: eval mode, bf16 on CUDA, float32 on CPU.

On a CPU, `decode_dtype=torch.bfloat16` adds a bf16 copy of the weights that samples_generate decodes
with after a float32 prefill. Decoding one or two rows reads every weight once per token, so it is
bound by memory bandwidth, and half the bytes is about twice the speed (measured on the 2-core CPU:
178 → 65 ms a step for two rows of SmolLM2-135M); prefill and large batches are compute-bound, where
bf16 matmuls without native CPU support are slower, so they stay in float32. See bench/RESULTS.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from reward_training.runtime import device_pick, dtype_pick


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    max_length: int  # the model's context length in tokens (prompt + completion)
    eos_token_ids: tuple[int, ...]  # a row stops when it samples any of these
    pad_token_id: int
    decoder: PreTrainedModel | None = None  # a lower-precision copy for small-batch decoding steps, if any


def context_length(model: PreTrainedModel, tokenizer: Any = None) -> int:
    """The model's context length: max_position_embeddings (or n_positions), else the tokenizer's."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < 1_000_000:
        return value
    raise ValueError("cannot tell the model's context length from its config")


def eos_ids(model: PreTrainedModel, tokenizer: Any) -> tuple[int, ...]:
    """All end-of-sequence ids: the generation config's (int or list) and the tokenizer's."""
    found: list[int] = []
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, int) and item not in found:
                found.append(item)
    if not found:
        raise ValueError("the model has no eos_token_id: generation could not stop")
    return tuple(found)


def model_load(
    path: str | Path, device: str | torch.device | None = None, *, decode_dtype: torch.dtype | None = None
) -> LoadedModel:
    """Load a Hugging Face causal LM directory for generation (never downloads).

    The device is `device` if given, else CUDA when available, else the CPU; weights are bf16
    on CUDA and float32 on CPU. The model is put in eval mode. `decode_dtype`, when it differs from
    that dtype, also keeps a copy in it for samples_generate's decoding steps (see the module doc).
    """
    device = device if isinstance(device, torch.device) else device_pick(device)
    dtype = dtype_pick(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
    model.to(device)
    model.eval()
    eos = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None)
    if pad is None:
        pad = eos[0]
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        max_length=context_length(model, tokenizer),
        eos_token_ids=eos,
        pad_token_id=pad,
        decoder=copy.deepcopy(model).to(decode_dtype) if decode_dtype not in (None, dtype) else None,
    )
