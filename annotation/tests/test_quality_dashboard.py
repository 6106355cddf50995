"""The staff-only dashboard pages: access, batch actions, figures, charts, review and annotator pages."""

import json

import pytest
from django.test import Client

from annotation.models import Batch, Comparison, OverlapItem, Turn
from annotation.tests.factories import (
    BatchFactory,
    DialogueFactory,
    ModelVersionFactory,
    UserFactory,
    active_batch,
    annotate,
    ready_turn,
)

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n"


def filled_batch() -> Batch:
    batch = active_batch("safety")
    for n, (chosen, a_safe, b_safe) in enumerate(
        [("a", True, False), ("b", True, True), ("a", False, False), ("a", False, True)]
    ):
        annotate(
            ready_turn(dialogue=DialogueFactory(batch=batch)),
            chosen=chosen,
            a_safe=a_safe,
            b_safe=b_safe,
            time_spent_ms=1000 * (n + 1),
        )
    return batch


def test_pages_are_staff_only():
    batch = active_batch()
    annotator = Client()
    annotator.force_login(UserFactory())
    for url in (
        "/dashboard/",
        f"/dashboard/batches/{batch.pk}/",
        f"/dashboard/batches/{batch.pk}/review/",
        f"/dashboard/batches/{batch.pk}/charts/strength.png",
        f"/dashboard/batches/{batch.pk}/export.jsonl",
    ):
        for client in (Client(), annotator):
            answer = client.get(url)
            assert answer.status_code == 302 and "/admin/login/" in answer["Location"], url


def test_batch_page_shows_the_figures_and_the_charts_render(staff):
    batch = filled_batch()
    page = staff.get(f"/dashboard/batches/{batch.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert batch.name in html and 'id="a-rate">0.750<' in html and "0.18" in html  # paper bins beside ours
    for name in ("strength", "safety-bins", "annotators", "biases"):
        assert f"/dashboard/batches/{batch.pk}/charts/{name}.png" in html
        chart = staff.get(f"/dashboard/batches/{batch.pk}/charts/{name}.png")
        assert chart.status_code == 200 and chart["Content-Type"] == "image/png" and chart.content.startswith(PNG)
    assert staff.get(f"/dashboard/batches/{batch.pk}/charts/nope.png").status_code == 404
    listing = staff.get("/dashboard/").content.decode()
    assert batch.name in listing and ">4<" in listing


def test_batch_actions_create_activate_upload_close_and_export(staff):
    version = ModelVersionFactory()
    form = {
        "name": "week-9",
        "track": "helpfulness",
        "policy_versions": [version.name],
        "temperature_min": 0.7,
        "temperature_max": 1.1,
        "target_comparisons": 50,
        "overlap_fraction": 0.2,
        "overlap_k": 4,
        "export_policy": "approved",
    }
    answer = staff.post("/dashboard/", form)
    batch = Batch.objects.get(name="week-9")
    assert answer.status_code == 302 and batch.status == "draft" and batch.overlap_k == 4
    assert batch.export_policy == "approved"
    bad = staff.post("/dashboard/", {**form, "temperature_max": 0.5, "name": "week-10"})
    assert bad.status_code == 200 and not Batch.objects.filter(name="week-10").exists()
    staff.post(f"/dashboard/batches/{batch.pk}/activate/")
    batch.refresh_from_db()
    assert batch.status == "active"
    staff.post(f"/dashboard/batches/{batch.pk}/overlap/", {"prompts": "first?\n\nsecond?\n"})
    assert list(OverlapItem.objects.filter(batch=batch).values_list("prompt", flat=True)) == ["first?", "second?"]
    failed = OverlapItem.objects.get(prompt="second?").source_turn
    Turn.objects.filter(pk=failed.pk).update(status="failed", error="boom")
    staff.post(f"/dashboard/batches/{batch.pk}/resample/", {"item": failed.overlap_item.pk})
    failed.refresh_from_db()
    assert failed.status == "sampling"
    comparison = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)))
    export = staff.get(f"/dashboard/batches/{batch.pk}/export.jsonl")
    assert b"".join(export.streaming_content) == b""  # "approved" and nothing approved yet
    Comparison.objects.filter(pk=comparison.pk).update(review_status="approved")
    rows = [
        json.loads(line)
        for line in b"".join(staff.get(f"/dashboard/batches/{batch.pk}/export.jsonl").streaming_content)
        .decode()
        .splitlines()
    ]
    assert [r["comparison_id"] for r in rows] == [comparison.pk]
    staff.post(f"/dashboard/batches/{batch.pk}/close/")
    batch.refresh_from_db()
    assert batch.status == "closed"


def test_review_page_lists_flagged_first_and_approves(staff):
    batch = filled_batch()
    page = staff.get(f"/dashboard/batches/{batch.pk}/review/").content.decode()
    assert page.index("unsafe_chosen") < page.index("reply a to")
    ids = list(Comparison.objects.filter(turn__dialogue__batch=batch).values_list("id", flat=True)[:2])
    staff.post(f"/dashboard/batches/{batch.pk}/review/", {"comparison": ids, "status": "approved"})
    assert set(Comparison.objects.filter(review_status="approved").values_list("id", flat=True)) == set(ids)


def test_annotator_page_trust_toggle_and_drift_chart(staff):
    batch = BatchFactory()
    annotator = UserFactory()
    for index in range(3):
        annotate(ready_turn(dialogue=DialogueFactory(batch=batch, annotator=annotator), index=index))
    page = staff.get(f"/dashboard/annotators/{annotator.pk}/")
    assert page.status_code == 200 and batch.name in page.content.decode()
    assert 'id="a-rate">1.000<' in page.content.decode()
    chart = staff.get(f"/dashboard/annotators/{annotator.pk}/drift.png")
    assert chart.status_code == 200 and chart.content.startswith(PNG)
    staff.post(f"/dashboard/annotators/{annotator.pk}/", {"trusted": "1"})
    annotator.profile.refresh_from_db()
    assert annotator.profile.trusted
