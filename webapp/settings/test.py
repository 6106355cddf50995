"""Test settings: the real PostgreSQL and Redis on 127.0.0.1 unless the environment says otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rlhf")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ")

from webapp.settings.main import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Embedded mode runs sampling on a background thread of the web process (see turn_sampling_enqueue); a unit
# test that switches CELERY_TASK_ALWAYS_EAGER on wants it inline, inside its own transaction.
SAMPLING_EAGER_IN_THREAD = False
# Each test gets the login throttle and lockout it sets up; the rest of the suite is never throttled.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGIN_RATE = "100000/min"
