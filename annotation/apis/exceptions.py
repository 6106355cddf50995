"""API exceptions of our own, beside DRF's (kept apart from errors.py, which the parser cannot import:
rest_framework.views loads the parser while errors.py imports it)."""

from rest_framework import exceptions, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"

    def __init__(self, limit: int | None = None):
        super().__init__(f"The request body is too large: the limit is {limit} bytes." if limit else None)
