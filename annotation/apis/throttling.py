"""The login throttle: token requests per client IP, counted in the shared cache."""

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the entry the nearest trusted proxy appended to X-Forwarded-For.

    Entries further left are the client's own say and can be forged, so only TRUSTED_PROXY_COUNT proxies are
    believed. Axes (AXES_CLIENT_IP_CALLABLE) and the throttle both count by this address.
    """
    request = getattr(request, "_request", request)  # a DRF Request or a Django HttpRequest
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies > 0 and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


class LoginRateThrottle(SimpleRateThrottle):
    """POST /api/auth/token/ at most LOGIN_RATE per client IP. Fails open: a login never fails on a cache outage."""

    scope = "login"

    def get_rate(self) -> str:
        return settings.LOGIN_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as error:
            log.warning("login throttle skipped, the cache is unreachable: %s", error)
            return True
