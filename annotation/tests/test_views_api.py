"""The endpoints the annotator UI added: skip/report a turn, read the guidelines; and session + CSRF."""

import pytest
from django.test import Client

from annotation.models import Comparison, Guideline, TurnReport
from annotation.tests.factories import BatchFactory, UserFactory, annotate, ready_turn

pytestmark = pytest.mark.django_db


def session(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the csrftoken cookie
    return client


def post(client, url, body):
    return client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def test_the_session_api_needs_the_csrf_token():
    turn = ready_turn()
    client = session(turn.dialogue.annotator)
    body = {"chosen": "a", "strength": "better", "time_spent_ms": 1200}
    without = client.post(f"/api/turns/{turn.pk}/comparison/", body, content_type="application/json")
    assert without.status_code == 403 and not Comparison.objects.exists()
    assert post(client, f"/api/turns/{turn.pk}/comparison/", body).status_code == 201


def test_report_a_turn_with_a_reason():
    turn = ready_turn()
    client = session(turn.dialogue.annotator)
    missing = post(client, f"/api/turns/{turn.pk}/report/", {"reason": "other"})
    assert missing.status_code == 400 and "note" in missing.json()["errors"]
    bad = post(client, f"/api/turns/{turn.pk}/report/", {"reason": "boring"})
    assert bad.status_code == 400 and "reason" in bad.json()["errors"]
    made = post(client, f"/api/turns/{turn.pk}/report/", {"reason": "offensive", "note": " slurs in B "})
    assert made.status_code == 201 and made.json()["reason"] == "offensive"
    report = TurnReport.objects.get()
    assert (report.turn_id, report.annotator_id, report.note) == (turn.pk, turn.dialogue.annotator_id, "slurs in B")
    assert post(client, f"/api/turns/{turn.pk}/report/", {"reason": "skip"}).status_code == 409
    # a reported turn takes no comparison
    body = {"chosen": "a", "strength": "better", "time_spent_ms": 5}
    assert post(client, f"/api/turns/{turn.pk}/comparison/", body).status_code == 409


def test_an_annotated_turn_cannot_be_reported_and_anothers_is_404():
    turn = ready_turn()
    annotate(turn)
    assert (
        post(session(turn.dialogue.annotator), f"/api/turns/{turn.pk}/report/", {"reason": "skip"}).status_code == 409
    )
    assert post(session(UserFactory()), f"/api/turns/{turn.pk}/report/", {"reason": "skip"}).status_code == 404


def test_reports_are_listed_for_admins_in_the_django_admin():
    turn = ready_turn()
    TurnReport.objects.create(turn=turn, annotator=turn.dialogue.annotator, reason="broken", note="garbled text")
    admin = UserFactory(profile__role="admin")
    page = session(admin).get("/admin/annotation/turnreport/")
    assert page.status_code == 200 and b"garbled text" in page.content
    landing = session(admin).get("/").content.decode()
    assert "1 skipped or reported turn to look at" in landing and "/admin/annotation/turnreport/" in landing
    assert "reported turn" not in session(turn.dialogue.annotator).get("/").content.decode()


def test_guidelines_api():
    batch = BatchFactory(track="safety", name="wk")
    Guideline.objects.create(track="safety", batch=batch, body="Extra rule.")
    client = session(UserFactory())
    sections = client.get("/api/guidelines/safety/").json()
    assert [s["title"] for s in sections] == ["Safety guidelines", "For batch wk"]
    assert sections[1]["markdown"] == "Extra rule."
    assert client.get("/api/guidelines/poetry/").status_code == 404


def test_admins_edit_guidelines_in_the_django_admin():
    batch = BatchFactory(track="safety", name="wk-s")
    admin = UserFactory(profile__role="admin")
    client = session(admin)
    token = client.cookies["csrftoken"].value
    mismatch = client.post(
        "/admin/annotation/guideline/add/",
        {"track": "helpfulness", "batch": batch.pk, "body": "x", "csrfmiddlewaretoken": token},
    )
    assert mismatch.status_code == 200 and b"belongs to the safety track" in mismatch.content
    made = client.post(
        "/admin/annotation/guideline/add/",
        {"track": "safety", "batch": batch.pk, "body": "Be *strict*.", "csrfmiddlewaretoken": token},
    )
    assert made.status_code == 302
    guideline = Guideline.objects.get()
    assert (guideline.batch_id, guideline.body, guideline.updated_by_id) == (batch.pk, "Be *strict*.", admin.pk)
