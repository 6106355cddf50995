from django.contrib.auth import views as auth_views
from django.utils.decorators import method_decorator

from annotation.views.security import content_security_policy


@method_decorator(content_security_policy, name="dispatch")
class LoginPage(auth_views.LoginView):
    template_name = "annotation/login.html"
    redirect_authenticated_user = True


class LogoutPage(auth_views.LogoutView):
    """POST only (Django's rule): the log-out button in the top bar is a small form."""
