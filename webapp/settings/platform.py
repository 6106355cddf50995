"""The platform's own settings: where models live and how sampling behaves."""

from webapp.settings import env

MODEL_DIR = env.MODEL_DIR
SAMPLING_QUEUE = env.SAMPLING_QUEUE
SAMPLING_SOFT_TIME_LIMIT_S = env.SAMPLING_SOFT_TIME_LIMIT_S
SAMPLING_TIME_LIMIT_S = env.SAMPLING_TIME_LIMIT_S
SAMPLING_REQUEUE_AFTER_S = env.SAMPLING_REQUEUE_AFTER_S
SAMPLING_DEVICE = env.SAMPLING_DEVICE
# A turn whose sampling has been queued this many times without finishing becomes `failed`.
SAMPLING_MAX_ATTEMPTS = 5
# Re-sample when the two texts come out identical, at most this many times.
SAMPLING_MAX_IDENTICAL_RETRIES = 3
# Defaults a batch gets when it does not set its own.
SAMPLING_DEFAULT_TOP_P = 0.9
SAMPLING_DEFAULT_MAX_NEW_TOKENS = 128
