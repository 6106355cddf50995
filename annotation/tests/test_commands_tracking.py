"""Training commands log to a tracker, and the registered model version says where the run's curves are."""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError

from annotation.models import ModelVersion
from annotation.tests.commands import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def preference_file(tmp_path):
    rows = [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "chosen": [{"role": "assistant", "content": f"a good answer {i}"}],
            "rejected": [{"role": "assistant", "content": "bad"}],
            "strength": "better",
            "track": "helpfulness",
            "source": "platform",
            "batch": "week-1",
        }
        for i in range(8)
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _train(base, data, output, *extra):
    return run(
        "train_reward_model",
        "--kind",
        "helpfulness",
        "--base",
        str(base),
        "--data",
        str(data),
        "--output",
        str(output),
        "--mixture",
        "none",
        "--batch-size",
        "4",
        "--max-length",
        "48",
        *extra,
    )


def test_the_registered_reward_model_records_its_tensorboard_run(tiny_policy_dir, preference_file, tmp_path):
    _train(tiny_policy_dir, preference_file, tmp_path / "rm", "--register", "rm-tracked")
    tracking = ModelVersion.objects.get(name="rm-tracked").metrics["tracking"]
    assert tracking["tracker"] == "tensorboard" and Path(tracking["log_dir"]) == tmp_path / "runs" / "rm"
    assert list(Path(tracking["log_dir"]).glob("events.out.tfevents.*"))
    # the dashboard's model-version page draws that run's loss curve
    from django.test import Client

    from annotation.tests.factories import AdminFactory

    staff = Client()
    staff.force_login(AdminFactory())
    version = ModelVersion.objects.get(name="rm-tracked")
    page = staff.get(f"/dashboard/models/{version.pk}/").content.decode()
    assert 'id="training-curves"' in page and "(loss, accuracy, lr" in page
    assert staff.get(f"/dashboard/models/{version.pk}/curves.png").content.startswith(b"\x89PNG")


def test_tracker_none_and_an_unknown_tracker(tiny_policy_dir, preference_file, tmp_path):
    result = _train(tiny_policy_dir, preference_file, tmp_path / "rm", "--tracker", "none")
    assert result["tracking"]["log_dir"] is None and not (tmp_path / "runs").exists()
    with pytest.raises(CommandError, match="invalid choice: 'neptune'"):
        _train(tiny_policy_dir, preference_file, tmp_path / "rm2", "--tracker", "neptune")


def test_dashboard_jobs_take_the_tracker_from_the_environment_setting(settings):
    from annotation.services.job_runtime import job_training_settings

    settings.TRACKER, settings.JOB_TRAINING = "none", {}
    assert job_training_settings().tracker == "none"
    settings.JOB_TRAINING = {"tracker": "tensorboard"}  # JOB_TRAINING may name it too
    assert job_training_settings().tracker == "tensorboard"
    settings.TRACKER, settings.JOB_TRAINING = "neptune", {}
    with pytest.raises(ValidationError, match="'neptune' is not one of tensorboard, mlflow, wandb, trackio, none"):
        job_training_settings()
