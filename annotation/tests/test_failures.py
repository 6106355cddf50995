"""A failing sampler, database or view gets a plain answer, never Django's HTML 500 (issue 13's repros): the
annotator a plain reason and the admin the detail, a JSON 503 with Retry-After while the database is down."""

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from annotation.models import Turn
from annotation.services.sampling import SAMPLING_FAILED_REASON
from annotation.tests.factories import AdminFactory, TurnFactory, UserFactory, client_for, unloadable_policy_turn

pytestmark = pytest.mark.django_db


# --- sampling failures --------------------------------------------------------------------------------


def test_a_sampling_failure_shows_the_annotator_a_plain_reason_and_the_admin_the_detail(tmp_path):
    from worker.tasks import turn_sample

    turn = unloadable_policy_turn(tmp_path)
    assert turn_sample.apply(args=[turn.pk]).get() == "failed"

    seen = client_for(turn.dialogue.annotator).get(f"/api/turns/{turn.pk}/").json()
    assert seen["status"] == "failed" and seen["error"] == SAMPLING_FAILED_REASON
    assert "error_detail" not in seen and "Traceback" not in str(seen)
    page = Client()
    page.force_login(turn.dialogue.annotator)
    html = page.get(f"/dialogues/{turn.dialogue_id}/").content.decode()
    assert SAMPLING_FAILED_REASON in html and "Traceback" not in html

    detail = Turn.objects.get(pk=turn.pk).error_detail
    exception_name = detail.split(":")[0]
    assert exception_name.endswith("Error") and "Traceback (most recent call last)" in detail
    admin = Client()
    admin.force_login(AdminFactory())
    admin_page = admin.get(f"/admin/annotation/turn/{turn.pk}/change/")
    assert admin_page.status_code == 200 and exception_name in admin_page.content.decode()
    # the admin reads it but cannot edit or delete the turn there
    assert admin.post(f"/admin/annotation/turn/{turn.pk}/change/", {"error": ""}).status_code == 403
    assert admin.post(f"/admin/annotation/turn/{turn.pk}/delete/", {"post": "yes"}).status_code == 403


def test_a_retry_clears_the_reason_and_the_detail():
    turn = TurnFactory(status=Turn.Status.FAILED, error=SAMPLING_FAILED_REASON, error_detail="OSError: no weights")
    answer = client_for(turn.dialogue.annotator).post(f"/api/turns/{turn.pk}/retry/")
    turn.refresh_from_db()
    assert answer.status_code == 202 and (turn.status, turn.error, turn.error_detail) == ("sampling", "", "")


# --- the database does not answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [OperationalError("server closed the connection unexpectedly"), InterfaceError("connection already closed")],
)
def test_a_database_error_in_a_view_is_a_json_503_with_retry_after(monkeypatch, error):
    def database_down(**_):
        raise error

    monkeypatch.setattr("annotation.apis.dialogues.dialogue_list", database_down)
    answer = client_for(UserFactory()).get("/api/dialogues/")
    assert answer.status_code == 503 and answer["Retry-After"].isdigit()
    assert answer.json() == {"detail": "The database is not answering; try again in a few seconds.", "errors": {}}


def test_a_database_error_outside_the_api_views_is_a_503_too(monkeypatch):
    def database_down(**_):
        raise OperationalError("could not connect to server")

    user = UserFactory()
    monkeypatch.setattr("annotation.views.landing.annotator_tracks", database_down)
    page = Client(raise_request_exception=False)
    page.force_login(user)
    ui = page.get("/")
    assert ui.status_code == 503 and ui["Retry-After"].isdigit()
    assert "Briefly unavailable" in ui.content.decode() and "Server Error" not in ui.content.decode()

    # one raised while DRF authenticates the session is the API's JSON 503
    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", lambda self: database_down())
    api = page.get("/api/dialogues/")
    assert api.status_code == 503 and api.json()["errors"] == {} and api["Retry-After"].isdigit()


def test_the_server_error_handler_answers_json_under_api_and_503_for_the_database():
    from django.test import RequestFactory

    from annotation.views.errors import server_error

    def handled(path: str, error: Exception):
        try:
            raise error
        except Exception:  # Django calls handler500 inside its except block
            return server_error(RequestFactory().get(path))

    down = handled("/api/turns/1/", OperationalError("terminating connection due to administrator command"))
    assert down.status_code == 503 and down["Content-Type"] == "application/json" and down["Retry-After"]
    page = handled("/dialogues/1/", InterfaceError("connection already closed"))
    assert page.status_code == 503 and "Briefly unavailable" in page.content.decode()
    other = handled("/dialogues/1/", RuntimeError("a bug"))
    assert other.status_code == 500 and "Briefly unavailable" not in other.content.decode()


def test_another_server_error_under_api_is_a_json_500(monkeypatch):
    def broken(**_):
        raise RuntimeError("a bug")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", lambda self: broken())
    page = Client(raise_request_exception=False)
    page.cookies["sessionid"] = "x" * 32
    answer = page.get("/api/dialogues/")
    assert answer.status_code == 500 and answer.json() == {"detail": "Server error; it has been logged.", "errors": {}}
