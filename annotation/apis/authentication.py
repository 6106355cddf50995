"""API tokens with a lifetime: DRF's own tokens, refused and deleted once older than API_TOKEN_TTL_S."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token) -> bool:
    return token.created < timezone.now() - timedelta(seconds=settings.API_TOKEN_TTL_S)


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token …`, as the contract has it, refused with 401 once the token is past its lifetime."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed("token expired: get a new one from POST /api/auth/token/")
        return user, token
