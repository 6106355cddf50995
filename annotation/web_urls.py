"""The annotator web app's pages (server-rendered; their script writes through /api/)."""

from django.contrib.staticfiles.views import serve as static_serve
from django.urls import path, re_path

from annotation.views.auth import LoginPage, LogoutPage
from annotation.views.dialogues import dialogue_body_fragment, dialogue_page, dialogue_start
from annotation.views.landing import landing_page


def _static(request, path):
    """Static files straight from the apps' folders when collectstatic has not run (WhiteNoise serves
    the collected ones first, when there are any)."""
    return static_serve(request, path, insecure=True)


urlpatterns = [
    path("", landing_page, name="landing"),
    path("login/", LoginPage.as_view(), name="login"),
    path("logout/", LogoutPage.as_view(), name="logout"),
    path("dialogues/new/", dialogue_start, name="dialogue-start"),
    path("dialogues/<int:dialogue_id>/", dialogue_page, name="dialogue"),
    path("dialogues/<int:dialogue_id>/body/", dialogue_body_fragment, name="dialogue-body"),
    re_path(r"^static/(?P<path>.+)$", _static),
]
