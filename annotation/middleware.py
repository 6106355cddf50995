"""Request guards that answer before a view runs."""

from django.conf import settings
from django.http import JsonResponse

from annotation.apis.errors import error_body
from annotation.apis.exceptions import PayloadTooLarge


class ApiBodySizeLimitMiddleware:
    """A 413 in the API's JSON error shape for an /api/ request whose Content-Length is over
    DATA_UPLOAD_MAX_MEMORY_SIZE, before any of the body is read. (The JSON parser also stops reading
    there, for a body sent without a Content-Length.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith("/api/") and _content_length(request) > limit:
            too_large = PayloadTooLarge(limit)
            return JsonResponse(error_body(str(too_large.detail)), status=too_large.status_code)
        return self.get_response(request)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
