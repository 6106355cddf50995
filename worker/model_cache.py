"""One loaded copy of each model version per worker process, on this worker's device, and the
generation backend a sampling variant names (in-process over that copy, or an OpenAI-compatible server)."""

import threading

from django.conf import settings

from reward_training.runtime import device_pick

_models: dict[str, object] = {}
_servers: dict[tuple[str, str], object] = {}  # one openai client per (endpoint, served name)
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


def openai_timeout_s() -> float:
    """How long one request to a model server may take: well inside the task's soft time limit, so a
    silent server is a retryable timeout rather than a turn that ran out of time."""
    return max(5.0, settings.SAMPLING_SOFT_TIME_LIMIT_S * 0.75)


def backend_get(variant):
    """The generation backend of a sampling variant (annotation.services.sampling.SamplingVariant)."""
    from reward_training.generation import backend_for

    if variant.backend == "local":
        return backend_for(backend="local", loaded=model_get(variant.model_path))
    key = (variant.endpoint_url, variant.served_name)
    with _lock:
        if key not in _servers:
            _servers[key] = backend_for(
                backend=variant.backend,
                endpoint_url=variant.endpoint_url,
                served_name=variant.served_name,
                timeout_s=openai_timeout_s(),
            )
        return _servers[key]
