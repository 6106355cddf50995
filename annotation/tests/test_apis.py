import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Batch
from annotation.tests.factories import (
    PASSWORD,
    AdminFactory,
    DialogueFactory,
    ModelVersionFactory,
    TurnFactory,
    UserFactory,
    active_batch,
    annotate,
    client_for,
    ready_turn,
)

pytestmark = pytest.mark.django_db


def test_token_login_and_unauthenticated_access():
    user = UserFactory(username="ann")
    assert APIClient().get("/api/dialogues/").status_code == 401
    bad = APIClient().post("/api/auth/token/", {"username": "ann", "password": "nope"}, format="json")
    assert bad.status_code == 400 and "password" in bad.json()["errors"]
    good = APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")
    assert good.status_code == 200 and good.json()["token"] == Token.objects.get(user=user).key


def test_dialogue_flow_and_field_errors():
    active_batch()
    client = client_for(UserFactory())
    missing = client.post("/api/dialogues/", {"track": "poetry"}, format="json")
    assert missing.status_code == 400 and "track" in missing.json()["errors"]
    no_batch = client.post("/api/dialogues/", {"track": "safety"}, format="json")
    assert no_batch.status_code == 409
    created = client.post("/api/dialogues/", {"track": "helpfulness"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"id", "track", "batch", "turns"} and body["turns"] == []
    empty = client.post(f"/api/dialogues/{body['id']}/turns/", {"prompt": ""}, format="json")
    assert empty.status_code == 400 and "prompt" in empty.json()["errors"]
    turn = client.post(f"/api/dialogues/{body['id']}/turns/", {"prompt": "Hello?"}, format="json")
    assert turn.status_code == 202 and turn.json()["status"] == "sampling"
    listed = client.get("/api/dialogues/").json()
    assert listed[0]["id"] == body["id"] and listed[0]["turns"][0]["prompt"] == "Hello?"


def test_an_annotator_cannot_see_or_touch_anothers_dialogue():
    turn = ready_turn()
    stranger = client_for(UserFactory())
    dialogue_id = turn.dialogue_id
    assert stranger.get(f"/api/turns/{turn.pk}/").status_code == 404
    assert stranger.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "x"}, format="json").status_code == 404
    answer = stranger.post(
        f"/api/turns/{turn.pk}/comparison/", {"chosen": "a", "strength": "better", "time_spent_ms": 5}, format="json"
    )
    assert answer.status_code == 404 and answer.json()["detail"]


def test_turn_shows_responses_without_model_identities_and_second_comparison_is_409():
    turn = ready_turn()
    client = client_for(turn.dialogue.annotator)
    body = client.get(f"/api/turns/{turn.pk}/").json()
    assert body["status"] == "ready" and [r["label"] for r in body["responses"]] == ["a", "b"]
    assert "model" not in json.dumps(body)
    bad = client.post(f"/api/turns/{turn.pk}/comparison/", {"chosen": "c", "strength": "meh"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"chosen", "strength", "time_spent_ms"}
    payload = {"chosen": "b", "strength": "slightly_better", "time_spent_ms": 4200}
    first = client.post(f"/api/turns/{turn.pk}/comparison/", payload, format="json")
    assert first.status_code == 201 and first.json()["chosen"] == "b"
    second = client.post(f"/api/turns/{turn.pk}/comparison/", payload, format="json")
    assert second.status_code == 409


def test_turn_shows_the_texts_so_far_only_while_sampling():
    # given a turn being sampled, with B's first tokens written and A's not yet
    turn = TurnFactory(partial_responses={"b": "The sea", "a": ""})
    client = client_for(turn.dialogue.annotator)
    body = client.get(f"/api/turns/{turn.pk}/").json()
    assert body["status"] == "sampling" and body["responses"] == []
    assert body["partial"] == [{"label": "a", "text": ""}, {"label": "b", "text": "The sea"}]
    # before the first token there is nothing to show
    turn.partial_responses = None
    turn.save(update_fields=["partial_responses"])
    assert client.get(f"/api/turns/{turn.pk}/").json()["partial"] == []
    # once ready, the responses and no partial texts, even if some were left behind
    ready = ready_turn()
    ready.partial_responses = {"a": "stale"}
    ready.save(update_fields=["partial_responses"])
    body = client_for(ready.dialogue.annotator).get(f"/api/turns/{ready.pk}/").json()
    assert body["partial"] == [] and len(body["responses"]) == 2


def test_safety_track_requires_flags():
    turn = ready_turn(dialogue=DialogueFactory(batch=active_batch("safety")))
    client = client_for(turn.dialogue.annotator)
    answer = client.post(
        f"/api/turns/{turn.pk}/comparison/", {"chosen": "a", "strength": "better", "time_spent_ms": 10}, format="json"
    )
    assert answer.status_code == 400 and set(answer.json()["errors"]) == {"a_safe", "b_safe"}


def test_retry_is_409_unless_failed():
    turn = ready_turn()
    client = client_for(turn.dialogue.annotator)
    assert client.post(f"/api/turns/{turn.pk}/retry/").status_code == 409


def test_admin_endpoints_need_an_admin():
    annotator = client_for(UserFactory())
    assert annotator.get("/api/batches/").status_code == 403
    admin = client_for(AdminFactory())
    ModelVersionFactory(name="policy-a")
    ModelVersionFactory(name="policy-b")
    bad = admin.post(
        "/api/batches/",
        {
            "name": "w1",
            "track": "helpfulness",
            "policy_versions": ["nope"],
            "temperature_min": 1.0,
            "temperature_max": 0.5,
            "target_comparisons": 10,
        },
        format="json",
    )
    assert bad.status_code == 400 and {"policy_versions", "temperature_max"} <= set(bad.json()["errors"])
    created = admin.post(
        "/api/batches/",
        {
            "name": "w1",
            "track": "helpfulness",
            "policy_versions": ["policy-a", "policy-b"],
            "temperature_min": 0.7,
            "temperature_max": 1.2,
            "target_comparisons": 10,
            "overlap_fraction": 0.1,
        },
        format="json",
    )
    assert created.status_code == 201 and created.json()["status"] == "draft"
    batch_id = created.json()["id"]
    assert admin.post(f"/api/batches/{batch_id}/activate/").json()["status"] == "active"
    assert [b["name"] for b in admin.get("/api/batches/").json()] == ["w1"]
    assert admin.post(f"/api/batches/{batch_id}/close/").json()["status"] == "closed"
    assert admin.post(f"/api/batches/{batch_id}/activate/").status_code == 409


def test_stats_and_streamed_export():
    batch = active_batch("safety")
    annotate(
        ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="a", strength="better", a_safe=True, b_safe=False
    )
    annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="a", a_safe=False, b_safe=True)
    admin = client_for(AdminFactory())
    stats = admin.get(f"/api/batches/{batch.pk}/stats/").json()
    assert stats["comparisons"] == 2 and stats["strength_distribution"]["better"] == 2
    assert stats["safety_bins"]["chosen_safe_other_unsafe"] == 1 and stats["unsafe_chosen"] == 1
    export = admin.get(f"/api/batches/{batch.pk}/export/?format=trl")
    assert export.status_code == 200 and export.streaming
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["safety_bin"] == "chosen_safe_other_unsafe"
    assert admin.get(f"/api/batches/{batch.pk}/export/?format=csv").status_code == 400
    assert admin.get("/api/batches/999999/stats/").status_code == 404
    assert Batch.objects.count() == 1


def test_schema_and_health():
    schema = APIClient().get("/api/schema/")
    assert schema.status_code == 200 and b"/api/turns/{turn_id}/comparison/" in schema.content
    health = APIClient().get("/healthz")
    assert health.status_code == 200 and health.json() == {"ok": True, "database": True, "broker": True}


def test_health_is_503_when_the_broker_is_down(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from webapp.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        health = APIClient().get("/healthz")
    finally:
        app.conf.broker_url = original
    assert health.status_code == 503 and health.json()["broker"] is False
