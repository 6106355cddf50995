"""Every API error as JSON {"detail": ..., "errors": {field: [messages]}} with the contract's status codes.

Bad input is a 400 with field messages, a body over DATA_UPLOAD_MAX_MEMORY_SIZE a 413, and a database
that does not answer (a restart, an outage) a 503 with Retry-After, so a client knows to try again.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from annotation.apis.exceptions import PayloadTooLarge
from annotation.errors import Conflict

logger = logging.getLogger(__name__)

# The database errors of a server that is down, restarting or unreachable.
DATABASE_UNAVAILABLE_ERRORS = (DatabaseOperationalError, DatabaseInterfaceError)
DATABASE_UNAVAILABLE = "The database is not answering; try again in a few seconds."
DATABASE_RETRY_AFTER_S = 5


def error_body(detail: str, errors: dict | None = None) -> dict:
    """The API's error shape, for the places outside DRF's handler (middleware, handler500)."""
    return {"detail": detail, "errors": errors or {}}


def _messages(detail, prefix: str = "") -> list[str]:
    """A field's messages as plain strings; a list's items are named by position ("item 0: must be a string")."""
    if isinstance(detail, dict):
        return [
            message
            for key, nested in detail.items()
            for message in _messages(nested, f"{prefix}{'item ' if isinstance(key, int) else ''}{key}: ")
        ]
    if isinstance(detail, list):
        return [message for nested in detail for message in _messages(nested, prefix)]
    return [f"{prefix}{detail}"]


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {field: _messages(messages) for field, messages in detail.items()}
    return {"non_field_errors": _messages(detail)}


def api_exception_handler(exc, context):
    if isinstance(exc, Conflict):
        return Response(error_body(str(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        logger.warning("database unavailable, answering 503: %s: %s", type(exc).__name__, exc)
        set_rollback()
        return Response(
            error_body(DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("Invalid input.", _field_errors(exc.detail))
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = error_body(str(detail))
    return response
