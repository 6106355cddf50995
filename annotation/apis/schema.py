"""The OpenAPI schema's error answers: every operation documents the 4xx/503 answers it can give, in the error shape.

drf-spectacular documents only the success answer of a view. The API's other answers follow from the
view itself (errors.py gives them their shape), so they are added here in one place: 400 and 413 and
415 where there is a body or a query to refuse, 401 and 403 where the view needs an account, 404
where the path names a row, 429 where the view is throttled, and 503 everywhere (a database outage).
A 409 depends on the operation's own rules; its view declares it with `conflict(...)`.
"""

import re

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in a sentence.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For invalid input, the messages of each field (`non_field_errors` for the body as a whole); "
        "empty otherwise.",
    )


def conflict(description: str) -> dict:
    """The 409 answer of an operation whose rules can refuse a valid request (for `extend_schema(responses=...)`)."""
    return {409: OpenApiResponse(ErrorSerializer, description=description)}


_PATH_PARAMETER = re.compile(r"{\w+}")


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the error answers the view can give beside its declared ones."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_answers():
            responses.setdefault(
                str(code),
                self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), str(code), direction=direction
                ),
            )
        return responses

    def _error_answers(self) -> list[tuple[int, str]]:
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(getattr(parameter, "location", None) == "query" for parameter in self.get_override_parameters())
        needs_account = not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        answers = []
        if has_body or has_query:
            answers.append((400, "Invalid input: `errors` names each field and what is wrong with it."))
        if needs_account:
            answers.append((401, "No valid credentials (an `Authorization: Token …` header or a session)."))
            answers.append(
                (
                    403,
                    "The account may not do this (an annotator on an admin operation, a track it "
                    "is not enabled for, or a session request without its CSRF token).",
                )
            )
        if _PATH_PARAMETER.search(self.path):
            answers.append((404, "No such row, or one that belongs to another annotator."))
        if has_body:
            answers.append((413, "The body is over the size limit (DATA_UPLOAD_MAX_MEMORY_SIZE)."))
            answers.append((415, "The body is not JSON (`Content-Type: application/json`)."))
        if self.view.get_throttles():
            answers.append((429, "Too many requests; `Retry-After` says when to try again."))
        answers.append((503, "The database is not answering; `Retry-After` says when to try again."))
        return answers
