"""Every environment variable the platform reads, read here and nowhere else."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = _bool("DJANGO_DEBUG", False)
MODEL_DIR = Path(os.environ.get("MODEL_DIR") or BASE_DIR / "var" / "models")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
# Sampling: which Celery queue turns go to ("cpu" or "gpu"), and the reliability clock.
SAMPLING_QUEUE = os.environ.get("SAMPLING_QUEUE", "cpu")
SAMPLING_SOFT_TIME_LIMIT_S = _float("SAMPLING_SOFT_TIME_LIMIT_S", 240.0)
SAMPLING_TIME_LIMIT_S = _float("SAMPLING_TIME_LIMIT_S", 300.0)
SAMPLING_REQUEUE_AFTER_S = _float("SAMPLING_REQUEUE_AFTER_S", 330.0)
SAMPLING_SWEEP_EVERY_S = _float("SAMPLING_SWEEP_EVERY_S", 30.0)
SAMPLING_DEVICE = os.environ.get("SAMPLING_DEVICE", "")  # "" = CUDA when present, else CPU
