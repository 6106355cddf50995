"""Django core: apps, middleware, database, templates, static files."""

import os
import secrets

import dj_database_url

from webapp.settings import env

BASE_DIR = env.BASE_DIR
DEBUG = env.DEBUG
_EMBEDDED = not env.DATABASE_URL or env.DATABASE_URL.startswith("sqlite")
EMBEDDED_SECRET_KEY_FILE = BASE_DIR / "var" / "secret_key"


def _embedded_secret_key():
    """The embedded demo's key: random, made once and kept in var/ (written atomically, readable by its owner)."""
    if EMBEDDED_SECRET_KEY_FILE.exists():
        return EMBEDDED_SECRET_KEY_FILE.read_text().strip()
    EMBEDDED_SECRET_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    partial = EMBEDDED_SECRET_KEY_FILE.with_name(f".secret_key.{os.getpid()}")
    partial.write_text(key + "\n")
    partial.chmod(0o600)
    os.replace(partial, EMBEDDED_SECRET_KEY_FILE)
    return EMBEDDED_SECRET_KEY_FILE.read_text().strip()  # another process may have won the race: use its key


def _weak_secret_key(key: str) -> bool:
    """Django's own test (check --deploy, security.W009): short, few distinct characters, or a generated dev key."""
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")


if env.SECRET_KEY:
    SECRET_KEY = env.SECRET_KEY
    if not DEBUG and _weak_secret_key(SECRET_KEY):
        raise SystemExit(  # one line on stderr, from manage.py and gunicorn alike, not a traceback
            "DJANGO_SECRET_KEY is too weak: use at least 50 characters, 5 of them distinct, without the "
            "django-insecure- prefix (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
elif DEBUG or _EMBEDDED:
    SECRET_KEY = _embedded_secret_key()
else:
    raise SystemExit("DJANGO_SECRET_KEY must be set when DATABASE_URL points at a server database")
ALLOWED_HOSTS = env.ALLOWED_HOSTS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",  # counts failed logins and locks a (username, IP) out
    "annotation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotation.middleware.ApiBodySizeLimitMiddleware",  # a 413 in JSON for an oversized /api/ body
    "annotation.views.security.StaffContentSecurityPolicyMiddleware",  # the dashboard's and admin's CSP
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from gunicorn, no separate web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into the 429 answer
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The largest request body read into memory (Django's default, stated): above it the API answers 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": dj_database_url.parse(env.DATABASE_URL or f"sqlite:///{env.SQLITE_DEFAULT}", conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo: a fresh clone has no var/ yet, and sampling threads write beside web requests,
    # so a writer waits for the lock (BEGIN IMMEDIATE, up to 20 s) instead of failing with "database is locked".
    if DATABASES["default"]["NAME"] == str(env.SQLITE_DEFAULT):
        env.SQLITE_DEFAULT.parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
