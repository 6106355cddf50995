"""The error pages Django answers itself (handler404, handler500), in the API's JSON shape under /api/.

The API's own errors are answered by annotation.apis.errors; these catch what never reaches a view: a
path that matches no URL (`/api/turns/abc/`), or a session the middleware cannot load or save while
PostgreSQL restarts (a database that does not answer is a 503 to retry, not a 500).
"""

import sys

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from annotation.apis.errors import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_ERRORS, error_body


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("Not found."), status=404)
    return defaults.page_not_found(request, exception)


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
