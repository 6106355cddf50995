from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.fields import StrictCharField
from annotation.apis.schema import ErrorSerializer
from annotation.apis.throttling import LoginRateThrottle
from annotation.services.users import token_for_login, user_tokens_revoke


class TokenApi(APIView):
    """POST: exchange a username and password for an API token. DELETE: revoke the caller's token."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenCreateInput")
    class InputSerializer(serializers.Serializer):
        username = StrictCharField(max_length=150)
        password = StrictCharField(trim_whitespace=False, max_length=4096)

    @extend_schema_serializer(component_name="TokenOutput")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    def get_throttles(self):
        return [LoginRateThrottle()] if self.request.method == "POST" else []

    def perform_authentication(self, request):
        if request.method != "POST":  # a login is judged by its password alone, not by a stale token it sends
            super().perform_authentication(request)

    @extend_schema(request=InputSerializer, responses=OutputSerializer, auth=[])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, so that django-axes counts the failure and its middleware answers a lockout.
        user = authenticate(request=request._request, **serializer.validated_data)
        if user is None:
            raise ValidationError({"password": ["wrong username or password"]})
        return Response({"token": token_for_login(user=user).key})

    @extend_schema(
        request=None,
        responses={
            204: None,
            401: OpenApiResponse(
                ErrorSerializer, description="No valid token to revoke (none given, expired or already revoked)."
            ),
        },
    )
    def delete(self, request):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        user_tokens_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
