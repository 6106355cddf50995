from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator

from annotation.views.security import CONTENT_SECURITY_POLICY, content_security_policy


@method_decorator(content_security_policy, name="dispatch")
class LoginPage(auth_views.LoginView):
    template_name = "annotation/login.html"
    redirect_authenticated_user = True


class LogoutPage(auth_views.LogoutView):
    """POST only (Django's rule): the log-out button in the top bar is a small form."""


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out (username, IP): 429, JSON on the API and a plain page on the forms."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    message = f"too many failed logins for this account from your address: try again in {minutes} minutes"
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "errors": {}}, status=429)
    else:
        response = render(request, "annotation/locked_out.html", {"message": message.capitalize() + "."}, status=429)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Retry-After"] = retry_after
    return response
