"""Security: password rules, login throttling and lockout (django-axes), the cache they count in, and TLS."""

from datetime import timedelta

from webapp.settings import env

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Axes first: a locked-out (username, IP) is refused before the password is even hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=env.LOGIN_LOCKOUT_S)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one guesser cannot lock everyone else out
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "annotation.apis.throttling.client_ip"  # the same address the API throttle counts
AXES_LOCKOUT_CALLABLE = "annotation.views.auth.lockout_response"  # 429: JSON on the API, a plain page on forms
AXES_VERBOSE = False
TRUSTED_PROXY_COUNT = env.TRUSTED_PROXY_COUNT

# The login throttle counts in the cache: Redis when there is one (shared by every web process), else memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.REDIS_URL,
        "KEY_PREFIX": "rlhf",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    if env.REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
LOGIN_RATE = env.LOGIN_RATE
API_TOKEN_TTL_S = env.API_TOKEN_TTL_S

# DJANGO_SECURE=1: served over TLS by a proxy in front, which sets X-Forwarded-Proto.
if env.SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's probe speaks plain HTTP
    SECURE_HSTS_SECONDS = env.HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.HSTS_PRELOAD
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if not env.HSTS_PRELOAD:
        # Preloading is a promise browsers keep for months: an opt-in (DJANGO_HSTS_PRELOAD=1), not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
