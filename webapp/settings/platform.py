"""The platform's own settings: where models live and how sampling behaves."""

from webapp.settings import env

MODEL_DIR = env.MODEL_DIR
SAMPLING_QUEUE = env.SAMPLING_QUEUE
SAMPLING_SOFT_TIME_LIMIT_S = env.SAMPLING_SOFT_TIME_LIMIT_S
SAMPLING_TIME_LIMIT_S = env.SAMPLING_TIME_LIMIT_S
SAMPLING_REQUEUE_AFTER_S = env.SAMPLING_REQUEUE_AFTER_S
SAMPLING_SWEEP_EVERY_S = env.SAMPLING_SWEEP_EVERY_S
# Through a database or broker outage the sampling task retries every SAMPLING_RETRY_MAX_DELAY_S (after
# 1, 2 and 4 s) until SAMPLING_RETRY_BUDGET_S has passed.
SAMPLING_RETRY_BUDGET_S = env.SAMPLING_RETRY_BUDGET_S
SAMPLING_RETRY_MAX_DELAY_S = 5
SAMPLING_TRANSIENT_RETRIES = 3 + max(1, round((SAMPLING_RETRY_BUDGET_S - 7) / SAMPLING_RETRY_MAX_DELAY_S))
# The sweep re-queues a turn whose message is in no queue and held by no worker once it is this old
# (a message still waiting behind a backlog is left alone).
SAMPLING_LOST_AFTER_S = 10.0
SAMPLING_DEVICE = env.SAMPLING_DEVICE
SAMPLING_CPU_DECODE_DTYPE = env.SAMPLING_CPU_DECODE_DTYPE
# Embedded mode (no Redis, tasks eager): sample on a background thread, so the request returns at once
# and the replies stream to the page; the test settings turn it off to sample inline.
SAMPLING_EAGER_IN_THREAD = True
# A turn whose sampling has been queued this many times without finishing becomes `failed`.
SAMPLING_MAX_ATTEMPTS = 5
# Re-sample when the two texts come out identical, at most this many times.
SAMPLING_MAX_IDENTICAL_RETRIES = 3
# Defaults a batch gets when it does not set its own.
SAMPLING_DEFAULT_TOP_P = 0.9
SAMPLING_DEFAULT_MAX_NEW_TOKENS = 128
# Dashboard jobs: the queue training workers consume, when a silent running job counts as dead, how
# many times a job is started before it is failed, the reward models' base checkpoint ("" = the
# current policy), and the held-out prompts of the refresh job's promotion gate.
TRAINING_QUEUE = env.TRAINING_QUEUE
JOB_STALE_S = env.JOB_STALE_S
JOB_MAX_ATTEMPTS = 3
RM_BASE_MODEL = env.RM_BASE_MODEL
RM_ACCURACY_NIGHTLY_HOUR = env.RM_ACCURACY_NIGHTLY_HOUR
HELDOUT_PROMPTS = env.BASE_DIR / "assets" / "prompts" / "heldout.jsonl"  # with a safety flag per prompt
PROMOTION_HELDOUT_LIMIT = env.PROMOTION_HELDOUT_LIMIT
REFRESH_ORACLE_WIN_RATE = env.REFRESH_ORACLE_WIN_RATE
# The promotion gate: a refreshed policy becomes current when its RM-judged win rate is above this.
PROMOTION_THRESHOLD = 0.5
# Imported preference files: the longest line (bytes) and the longest message or reply (characters).
IMPORT_MAX_LINE_BYTES = env.IMPORT_MAX_LINE_BYTES
IMPORT_MAX_FIELD_CHARS = env.IMPORT_MAX_FIELD_CHARS
# A running job's worker touches its heartbeat this often, whatever the job is doing.
JOB_HEARTBEAT_S = max(1.0, JOB_STALE_S / 4)
# Training settings of the dashboard's jobs (see TrainingSettings); empty = the paper's defaults.
JOB_TRAINING = env.JOB_TRAINING
TRACKER = env.TRACKER  # the dashboard jobs' experiment tracker (reward_training/tracking.py)
