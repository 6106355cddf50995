"""One loaded copy of each model version per worker process, on this worker's device."""

import threading

from django.conf import settings

from reward_training.runtime import device_pick

_models: dict[str, object] = {}
_lock = threading.Lock()


def worker_device():
    """CUDA when available (or SAMPLING_DEVICE if set), else CPU."""
    return device_pick(settings.SAMPLING_DEVICE or None)


def model_get(path: str):
    """The loaded model at `path`, loading it on first use."""
    from reward_training.generation import model_load

    with _lock:
        if path not in _models:
            _models[path] = model_load(path, device=worker_device())
        return _models[path]


def model_cache_clear() -> None:
    with _lock:
        _models.clear()
