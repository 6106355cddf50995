"""The server-error page (handler500): a database that does not answer is a 503 to retry, not a 500.

The API's own errors are answered by annotation.apis.errors; this catches what escapes a view, such as
a session the middleware cannot load or save while PostgreSQL restarts.
"""

import sys

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from annotation.apis.errors import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_ERRORS, error_body


def server_error(request):
    database_down = isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE_ERRORS)
    retry_after = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    if request.path.startswith("/api/"):
        if database_down:
            return JsonResponse(error_body(DATABASE_UNAVAILABLE), status=503, headers=retry_after)
        return JsonResponse(error_body("Server error; it has been logged."), status=500)
    if database_down:
        page = loader.render_to_string("annotation/unavailable.html", {"retry_after_s": DATABASE_RETRY_AFTER_S})
        return HttpResponse(page, status=503, headers=retry_after)
    return defaults.server_error(request)
