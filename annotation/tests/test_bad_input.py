"""Bad input gets a 4xx JSON answer, never a 500 (issue 13's repros); failures are in test_failures.py."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import Batch, Comparison
from annotation.tests.factories import (
    AdminFactory,
    ModelVersionFactory,
    UserFactory,
    client_for,
    ready_turn,
)

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000


def _raw(client, url: str, body: str | bytes):
    return client.generic("POST", url, body, content_type="application/json")


def _field_errors(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"detail", "errors"}
    return body["errors"]


def _batch_body(**overrides) -> dict:
    body = {
        "name": "b1",
        "track": "helpfulness",
        "policy_versions": [ModelVersionFactory().name],
        "temperature_min": 0.7,
        "temperature_max": 1.2,
        "target_comparisons": 10,
    }
    return {**body, **overrides}


# --- deep nesting -------------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_400_for_anonymous_and_signed_in_callers():
    anonymous = _raw(APIClient(), "/api/auth/token/", DEEP)
    assert anonymous.status_code == 400 and "nested deeper than 32" in anonymous.json()["detail"]
    signed_in = _raw(client_for(UserFactory()), "/api/dialogues/", DEEP)
    assert signed_in.status_code == 400 and "nested" in signed_in.json()["detail"]
    # an object nested inside arrays counts too, and brackets inside a string do not
    assert _raw(APIClient(), "/api/auth/token/", '{"a":' * 40 + "1" + "}" * 40).status_code == 400
    brackets_in_text = _raw(
        APIClient(), "/api/auth/token/", '{"username": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[", "password": "x"}'
    )
    assert brackets_in_text.status_code == 400 and set(_field_errors(brackets_in_text)) == {"password"}


def test_malformed_json_is_a_400_not_a_500():
    for body in ('{"username": ', b"\xff\xfe", '{"a": NaN}', "[" * 20):
        answer = _raw(APIClient(), "/api/auth/token/", body)
        assert answer.status_code == 400 and answer.json()["detail"].startswith("JSON parse error"), body


# --- sizes and ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_comparisons", 2**31),
        ("target_comparisons", 10**7),
        ("max_new_tokens", 2**31),
        ("max_new_tokens", 10**7),
        ("temperature_min", 0),
        ("temperature_max", 50.0),
        ("temperature_max", 10**400),
        ("top_p", 1.5),
        ("overlap_fraction", -0.1),
        ("system_prompt", "x" * 1_000_000),
        ("name", "n" * 200),
        ("policy_versions", [f"p{i}" for i in range(100)]),
    ],
)
def test_absurd_batch_settings_are_refused_with_a_field_message(field, value):
    answer = client_for(AdminFactory()).post("/api/batches/", _batch_body(**{field: value}), format="json")
    assert answer.status_code == 400 and list(_field_errors(answer)) == [field]
    assert not Batch.objects.exists()


def test_the_largest_sensible_batch_is_accepted():
    body = _batch_body(
        max_new_tokens=8192, target_comparisons=1_000_000, temperature_max=5.0, system_prompt="s" * 16_000
    )
    answer = client_for(AdminFactory()).post("/api/batches/", body, format="json")
    assert answer.status_code == 201 and answer.json()["max_new_tokens"] == 8192


def test_create_batch_shares_the_bounds_and_answers_in_one_line():
    ModelVersionFactory(name="p1")
    with pytest.raises(CommandError) as refused:
        call_command(
            "create_batch",
            "--name",
            "b",
            "--track",
            "helpfulness",
            "--policy",
            "p1",
            "--temperatures",
            "0.7,1.2",
            "--target",
            str(2**31),
            "--max-new-tokens",
            "10000000",
        )
    assert "target_comparisons" in str(refused.value) and "max_new_tokens" in str(refused.value)
    assert "\n" not in str(refused.value).strip() and not Batch.objects.exists()


def test_out_of_range_numbers_elsewhere_are_field_messages():
    turn = ready_turn()
    huge_time = client_for(turn.dialogue.annotator).post(
        f"/api/turns/{turn.pk}/comparison/",
        {"chosen": "a", "strength": "better", "time_spent_ms": 2**31},
        format="json",
    )
    assert huge_time.status_code == 400 and list(_field_errors(huge_time)) == ["time_spent_ms"]
    review = client_for(AdminFactory()).post(
        "/api/comparisons/review/", {"comparisons": [2**63], "status": "approved"}, format="json"
    )
    assert review.status_code == 400 and list(_field_errors(review)) == ["comparisons"]


def test_a_body_over_10_mb_is_a_json_413():
    body = '{"prompt": "' + "x" * (12 * 1024 * 1024) + '"}'
    for client in (APIClient(), client_for(UserFactory())):
        answer = _raw(client, "/api/auth/token/", body)
        assert answer.status_code == 413 and "10485760 bytes" in answer.json()["detail"]
        assert answer.json()["errors"] == {}


def test_a_body_over_10_mb_without_a_content_length_is_a_json_413_too():
    from io import BytesIO

    from annotation.apis.exceptions import PayloadTooLarge
    from annotation.apis.parsers import DepthLimitedJSONParser

    with pytest.raises(PayloadTooLarge):
        DepthLimitedJSONParser().parse(BytesIO(b'"' + b"x" * (11 * 1024 * 1024) + b'"'))


# --- wrong types --------------------------------------------------------------------------------------


def test_wrong_types_are_refused_not_coerced():
    turn = ready_turn()
    client = client_for(turn.dialogue.annotator)
    prompt = client.post(f"/api/dialogues/{turn.dialogue_id}/turns/", {"prompt": 123}, format="json")
    assert prompt.status_code == 400 and _field_errors(prompt) == {"prompt": ["must be a string"]}
    comparison = client.post(
        f"/api/turns/{turn.pk}/comparison/",
        {"chosen": "a", "strength": "better", "a_safe": "yes", "b_safe": 1, "time_spent_ms": "500"},
        format="json",
    )
    assert comparison.status_code == 400
    assert _field_errors(comparison) == {
        "a_safe": ["must be true or false"],
        "b_safe": ["must be true or false"],
        "time_spent_ms": ["must be an integer"],
    }
    fraction = client.post(
        f"/api/turns/{turn.pk}/comparison/", {"chosen": "a", "strength": "better", "time_spent_ms": 1.5}, format="json"
    )
    assert fraction.status_code == 400 and list(_field_errors(fraction)) == ["time_spent_ms"]
    assert not Comparison.objects.exists()
    # the right types still pass: JSON booleans, and a whole number written as 1200.0
    ok = client.post(
        f"/api/turns/{turn.pk}/comparison/",
        {"chosen": "a", "strength": "better", "a_safe": True, "b_safe": False, "time_spent_ms": 1200.0},
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["time_spent_ms"] == 1200 and ok.json()["a_safe"] is True


def test_wrong_types_in_admin_and_login_bodies_are_refused():
    admin = client_for(AdminFactory())
    batch = admin.post(
        "/api/batches/", _batch_body(track=1, temperature_min="0.7", target_comparisons=True), format="json"
    )
    assert batch.status_code == 400 and set(_field_errors(batch)) == {"track", "temperature_min", "target_comparisons"}
    trusted = admin.post(f"/api/annotators/{UserFactory().pk}/trust/", {"trusted": "true"}, format="json")
    assert trusted.status_code == 400 and list(_field_errors(trusted)) == ["trusted"]
    login = APIClient().post("/api/auth/token/", {"username": ["ann"], "password": 1}, format="json")
    assert login.status_code == 400 and set(_field_errors(login)) == {"username", "password"}


# --- what the fuzzer checks (tests/e2e/test_fuzz.py): each answer as the schema documents it ------------


def test_a_path_under_api_that_matches_no_url_is_a_json_404():
    annotator = client_for(UserFactory())
    for path in ("/api/turns/null,null/", "/api/batches/abc/stats/", "/api/no-such-thing/"):
        answer = annotator.get(path)
        assert answer.status_code == 404 and answer.json() == {"detail": "Not found.", "errors": {}}, path
    page = Client().get("/dialogues/abc/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")


def test_the_schema_documents_each_operations_error_answers_in_the_error_shape():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    def codes(path: str, method: str) -> set[str]:
        return set(schema["paths"][path][method]["responses"])

    assert codes("/api/turns/{turn_id}/comparison/", "post") == {
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "503",
    }
    assert codes("/api/dialogues/", "get") == {"200", "401", "403", "503"}  # no body, no query, no row named
    assert codes("/api/batches/{batch_id}/export/", "get") >= {"400", "404"}  # ?format= can be refused
    assert {"401", "403"}.isdisjoint(codes("/api/auth/token/", "post"))  # anyone may ask for a token
    error = schema["paths"]["/api/turns/{turn_id}/comparison/"]["post"]["responses"]["409"]
    assert error["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "already has a comparison" in error["description"]
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"detail", "errors"}
    every_operation = [operation for item in schema["paths"].values() for operation in item.values()]
    assert all("503" in operation["responses"] for operation in every_operation)


def test_a_bad_item_in_a_list_is_named_by_its_position_in_plain_words():
    admin = client_for(AdminFactory())
    answer = admin.post("/api/batches/", _batch_body(policy_versions=["ok", 7, "a\x00b"]), format="json")
    assert answer.status_code == 400
    assert _field_errors(answer)["policy_versions"] == [
        "item 1: must be a string",
        "item 2: Null characters are not allowed.",
    ]
