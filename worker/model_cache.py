"""One loaded copy of each model version per worker process, on this worker's device."""

import threading

from django.conf import settings

from reward_training.runtime import device_pick

_models: dict[str, object] = {}
_lock = threading.Lock()


def worker_device():
    """CUDA when available (or SAMPLING_DEVICE if set), else CPU."""
    return device_pick(settings.SAMPLING_DEVICE or None)


def decode_dtype(device):
    """On a CPU, the dtype turns decode in (SAMPLING_CPU_DECODE_DTYPE; bf16 halves the bytes each token
    reads); None on CUDA, where the weights are bf16 already, or when the setting is off."""
    import torch

    name = settings.SAMPLING_CPU_DECODE_DTYPE.strip().lower()
    if device.type != "cpu" or name in ("", "float32", "fp32"):
        return None
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"SAMPLING_CPU_DECODE_DTYPE={name!r} is not a torch dtype (try bfloat16 or float32)")
    return dtype


def model_get(path: str):
    """The loaded model at `path`, loading it on first use."""
    from reward_training.generation import model_load

    with _lock:
        if path not in _models:
            device = worker_device()
            _models[path] = model_load(path, device=device, decode_dtype=decode_dtype(device))
        return _models[path]


def model_cache_clear() -> None:
    with _lock:
        _models.clear()
