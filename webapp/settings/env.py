"""Every environment variable the platform reads, read here and nowhere else."""

import json
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
SQLITE_DEFAULT = BASE_DIR / "var" / "db.sqlite3"  # the embedded demo's database when DATABASE_URL is unset
REDIS_URL = os.environ.get("REDIS_URL", "")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = _bool("DJANGO_DEBUG", False)
MODEL_DIR = Path(os.environ.get("MODEL_DIR") or BASE_DIR / "var" / "models")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
# Sampling: which Celery queue turns go to ("cpu" or "gpu"), and the reliability clock.
SAMPLING_QUEUE = os.environ.get("SAMPLING_QUEUE", "cpu")
SAMPLING_SOFT_TIME_LIMIT_S = _float("SAMPLING_SOFT_TIME_LIMIT_S", 240.0)
SAMPLING_TIME_LIMIT_S = _float("SAMPLING_TIME_LIMIT_S", 300.0)
SAMPLING_REQUEUE_AFTER_S = _float("SAMPLING_REQUEUE_AFTER_S", 330.0)
SAMPLING_SWEEP_EVERY_S = _float("SAMPLING_SWEEP_EVERY_S", 15.0)
SAMPLING_RETRY_BUDGET_S = _float("SAMPLING_RETRY_BUDGET_S", 600.0)  # how long a turn retries through an outage
SAMPLING_DEVICE = os.environ.get("SAMPLING_DEVICE", "")  # "" = CUDA when present, else CPU
# On a CPU, decode turns with a copy of the weights in this dtype ("bfloat16"), or "" / "float32" for none.
SAMPLING_CPU_DECODE_DTYPE = os.environ.get("SAMPLING_CPU_DECODE_DTYPE", "bfloat16")
# Dashboard jobs (reward-model training, policy refresh, RM accuracy): their queue and clocks.
TRAINING_QUEUE = os.environ.get("TRAINING_QUEUE", "training")
JOB_STALE_S = _float("JOB_STALE_S", 600.0)  # a running job whose heartbeat is this old is re-queued
RM_BASE_MODEL = os.environ.get("RM_BASE_MODEL", "")  # "" = the current policy (the paper's choice)
RM_ACCURACY_NIGHTLY_HOUR = int(_float("RM_ACCURACY_NIGHTLY_HOUR", 2.0))  # UTC hour of the nightly RM check
PROMOTION_HELDOUT_LIMIT = int(_float("PROMOTION_HELDOUT_LIMIT", 200.0))  # held-out prompts the refresh job's gate uses
# The refresh job also reports the simulated annotators' oracle win rate: only where simulated annotators
# made the comparisons (a word-list oracle says nothing about a real team's preferences).
REFRESH_ORACLE_WIN_RATE = _bool("REFRESH_ORACLE_WIN_RATE", False)
# import_preferences: the longest line it reads, in bytes (refused before it is read whole), and the longest
# text (a message or a reply), in characters.
IMPORT_MAX_LINE_BYTES = int(_float("IMPORT_MAX_LINE_BYTES", 1024 * 1024))
IMPORT_MAX_FIELD_CHARS = int(_float("IMPORT_MAX_FIELD_CHARS", 100_000))
# Where dashboard jobs' training runs log their step metrics: tensorboard (offline default), mlflow, wandb,
# trackio or none (reward_training/tracking.py).
TRACKER = os.environ.get("TRACKER") or "tensorboard"
# Dashboard jobs' training settings as JSON (keys of annotation.services.training.TrainingSettings, e.g.
# {"rm_batch_size": 64, "k": 16}); anything unset keeps the paper's default.
try:
    JOB_TRAINING = json.loads(os.environ.get("JOB_TRAINING") or "{}")
except json.JSONDecodeError as error:
    raise ValueError(f"JOB_TRAINING is not valid JSON: {error}") from error
# Security: login throttling and lockout, API token lifetime, the TLS switch.
LOGIN_RATE = os.environ.get("LOGIN_RATE", "120/min")  # token logins per client IP (DRF rate syntax)
LOGIN_FAILURE_LIMIT = int(_float("LOGIN_FAILURE_LIMIT", 5.0))  # wrong passwords per (username, IP) before a lockout
LOGIN_LOCKOUT_S = _float("LOGIN_LOCKOUT_S", 900.0)  # how long a lockout lasts
TRUSTED_PROXY_COUNT = int(_float("TRUSTED_PROXY_COUNT", 0.0))  # reverse proxies in front that append X-Forwarded-For
API_TOKEN_TTL_S = _float("API_TOKEN_TTL_S", 7 * 24 * 3600.0)  # an API token older than this is refused and deleted
SECURE = _bool("DJANGO_SECURE", False)  # served over TLS (behind a proxy that sets X-Forwarded-Proto)
HSTS_SECONDS = int(_float("DJANGO_HSTS_SECONDS", 31536000.0))
HSTS_PRELOAD = _bool("DJANGO_HSTS_PRELOAD", False)
