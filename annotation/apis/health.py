from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


def _broker_ok() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True  # tasks run in-process: there is no broker to ask
    from webapp.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


@require_GET
def healthz(request):
    """200 when the database and the broker answer, 503 (with Retry-After, like the API's) otherwise."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    response = JsonResponse({"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)
    if response.status_code == 503:
        response["Retry-After"] = "5"
    return response
