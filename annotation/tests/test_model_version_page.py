"""The dashboard's model-version page: lineage, the logged training curves, RM accuracy, win rates, files."""

import json

import pytest
from django.test import Client

from annotation.models import Job
from annotation.tests.factories import BatchFactory, ModelVersionFactory
from reward_training.tracking import RunTracker

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n"


def _tracked_run(tmp_path, losses):
    """A TensorBoard run as a trainer writes it (through the same tracker seam)."""
    run = RunTracker("tensorboard", output_dir=tmp_path / "rm")
    run.start()
    for step, loss in enumerate(losses, start=1):
        run.log({"loss": loss, "accuracy": 0.5 + step / 10}, step=step)
    return run.finish()


def test_a_reward_model_page_shows_lineage_loss_curve_and_accuracy(staff, tmp_path):
    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "config.json").write_text("{}")
    manifest = tmp_path / "rm" / "data_manifest.json"
    manifest.write_text(
        json.dumps({"by_source": {"platform": 40, "anthropic-harmless": 12}, "by_track": {"safety": 52}})
    )
    base = ModelVersionFactory(name="base-policy")
    rm = ModelVersionFactory(
        name="rm-safety-w1",
        kind="reward",
        track="safety",
        path=str(tmp_path / "rm"),
        parent=base,
        lineage={"base": "base-policy", "batches": ["week-1"], "data_manifest": str(manifest)},
        metrics={"tracking": _tracked_run(tmp_path, [0.69, 0.6, 0.4])},
    )
    batch = BatchFactory(name="week-2", track="safety")
    Job.objects.create(
        kind=Job.Kind.RM_ACCURACY,
        batch=batch,
        status=Job.Status.SUCCEEDED,
        result={
            "safety": {
                "model": "rm-safety-w1",
                "n": 10,
                "accuracy": 0.7,
                "ci95": [0.4, 0.9],
                "by_strength": {"significantly_better": {"accuracy": 0.9}},
                "by_safety_bin": {"both_safe": {"accuracy": 0.625}},
            }
        },
    )

    page = staff.get(f"/dashboard/models/{rm.pk}/").content.decode()
    assert "base-policy" in page and "week-1" in page and "platform: 40" in page and "anthropic-harmless: 12" in page
    assert 'id="training-curves"' in page and "loss, accuracy" in page
    assert "0.900" in page and "0.625" in page and "week-2" in page  # by strength and by safety bin
    curves = staff.get(f"/dashboard/models/{rm.pk}/curves.png")
    assert curves["Content-Type"] == "image/png" and curves.content.startswith(PNG)
    listing = staff.get(f"/dashboard/models/{rm.pk}/files.txt").content.decode()
    assert "config.json" in listing and "data_manifest.json" in listing


def test_a_policy_page_shows_its_win_rates_against_its_parent(staff):
    parent = ModelVersionFactory(name="policy-v1")
    child = ModelVersionFactory(name="policy-v2", parent=parent, lineage={"method": "rejection_sampling"})
    Job.objects.create(
        kind=Job.Kind.REFRESH_POLICY,
        batch=BatchFactory(),
        status=Job.Status.SUCCEEDED,
        result={
            "policy": "policy-v2",
            "parent": "policy-v1",
            "rm_win_rate": 0.61,
            "rm_win_rate_ci95": [0.5, 0.7],
            "rm_win_rate_safety": 0.55,
            "rm_win_rate_helpfulness": 0.66,
        },
    )
    page = staff.get(f"/dashboard/models/{child.pk}/").content.decode()
    assert "0.610" in page and "0.550" in page and "0.660" in page and "rejection_sampling" in page
    assert "No tracked run recorded" in page
    assert (
        f"/dashboard/models/{child.pk}/" in staff.get(f"/dashboard/models/{parent.pk}/").content.decode()
    )  # child link


def test_the_page_is_staff_only():
    version = ModelVersionFactory()
    assert Client().get(f"/dashboard/models/{version.pk}/").status_code == 302


def test_the_batches_page_draws_each_policy_versions_win_rate_over_its_parent(staff):
    from annotation.services.promotion import policy_win_rates_record
    from reward_training.evaluation.policy_eval import paired_win_rates

    assert "No policy version has been compared with its parent yet" in staff.get("/dashboard/").content.decode()
    v0 = ModelVersionFactory(name="policy-v0")
    v1 = ModelVersionFactory(name="policy-v1", parent=v0)
    v2 = ModelVersionFactory(name="policy-v2", parent=v1)
    flags = [True, False, False, False]  # one safety prompt, three helpfulness prompts
    for version, parent, new_scores in ((v2, v1, [0.2, 0.9, 0.9, 0.1]), (v1, v0, [0.9, 0.9, 0.9, 0.9])):
        rates = paired_win_rates(new_scores, [0.5] * 4, flags)
        evaluation = {"rm": rates["all"], "by_kind": {"rm": rates}, "safety_prompts": 1}
        policy_win_rates_record(version=version, parent=parent, evaluation=evaluation, promoted=version == v1)
    page = staff.get("/dashboard/").content.decode()
    curve = page[page.index('id="win-rates"') :]
    # oldest version first; v1 won everything, v2 lost its safety prompt and won two of three others
    assert curve.index("<td>policy-v1</td><td>policy-v0</td><td>rm</td>") < curve.index("<td>policy-v2</td>")
    v2_row = curve[curve.index("<td>policy-v2</td>") : curve.index("</tr>", curve.index("<td>policy-v2</td>"))]
    assert '<td class="num">0.500' in v2_row and '<td class="num">0.000' in v2_row and '<td class="num">0.667' in v2_row
    assert "<td>no</td>" in v2_row and "oracle" not in curve.split("<table>")[1]
    assert 'src="/dashboard/win-rates.png"' in curve
    chart = staff.get("/dashboard/win-rates.png")
    assert chart["Content-Type"] == "image/png" and chart.content.startswith(PNG)
