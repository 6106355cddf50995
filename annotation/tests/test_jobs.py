"""Dashboard jobs: what the batch page refuses and why, and the bookkeeping that keeps a killed worker's
job alive (claiming, duplicate deliveries, the stale-job sweep, the attempt limit)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Job, ModelVersion
from annotation.services.jobs import job_begin, job_start, jobs_nightly_rm_accuracy, jobs_requeue_stale
from annotation.services.training import TrainingSettings
from annotation.tests.factories import (
    AdminFactory,
    BatchFactory,
    ModelVersionFactory,
    active_batch,
    annotate,
    ready_turn,
)

pytestmark = pytest.mark.django_db


def current_rms():
    for track in ("helpfulness", "safety"):
        ModelVersionFactory(name=f"rm-{track}", kind=ModelVersion.Kind.REWARD, track=track, is_current=True)


def test_jobs_on_an_empty_batch_are_refused_with_the_reason():
    batch = BatchFactory()
    with pytest.raises(Exception) as refused:
        job_start(kind=Job.Kind.RM_ACCURACY, batch=batch)
    assert refused.value.message_dict == {
        "batch": ["this batch has no comparisons yet"],
        "reward_models": ["no current helpfulness or safety reward model: train and make them current first"],
    }
    with pytest.raises(Exception) as refused:
        job_start(kind="bake_a_cake", batch=batch)
    assert "kind" in refused.value.message_dict
    assert not Job.objects.exists()


def test_a_second_start_of_a_running_job_is_a_conflict():
    turn = ready_turn()
    annotate(turn)
    current_rms()
    job = job_start(kind=Job.Kind.RM_ACCURACY, batch=turn.dialogue.batch)
    assert job.status == Job.Status.QUEUED
    with pytest.raises(Conflict, match=f"job #{job.pk}"):
        job_start(kind=Job.Kind.RM_ACCURACY, batch=turn.dialogue.batch)


def test_claiming_skips_live_duplicates_and_picks_up_a_dead_workers_job(settings):
    settings.JOB_STALE_S = 60
    job = Job.objects.create(kind=Job.Kind.RM_ACCURACY, batch=BatchFactory(), queued_at=timezone.now())
    claimed = job_begin(job_id=job.pk)
    assert claimed.status == Job.Status.RUNNING and claimed.attempts == 1
    assert job_begin(job_id=job.pk) is None  # a redelivery while the first worker is alive
    long_ago = timezone.now() - timedelta(seconds=61)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=long_ago, queued_at=long_ago)
    assert jobs_requeue_stale() == {"requeued": [job.pk]}
    assert jobs_requeue_stale() == {"requeued": []}  # once per stale period, not every sweep
    assert job_begin(job_id=job.pk).attempts == 2  # the worker died: the next one takes over


def test_a_job_that_keeps_dying_is_failed_with_the_reason(settings):
    settings.JOB_MAX_ATTEMPTS = 2
    job = Job.objects.create(
        kind=Job.Kind.RM_ACCURACY,
        batch=BatchFactory(),
        status=Job.Status.RUNNING,
        attempts=2,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    assert job_begin(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == "the job did not finish after 2 attempts"


def test_queued_jobs_the_broker_never_delivered_are_requeued(settings):
    settings.JOB_STALE_S = 60
    old = Job.objects.create(
        kind=Job.Kind.RM_ACCURACY, batch=BatchFactory(), queued_at=timezone.now() - timedelta(minutes=5)
    )
    Job.objects.create(kind=Job.Kind.RM_ACCURACY, batch=old.batch, queued_at=timezone.now())
    assert jobs_requeue_stale() == {"requeued": [old.pk]}


def test_the_nightly_run_measures_active_batches_with_comparisons_only():
    current_rms()
    turn = ready_turn()
    annotate(turn)
    BatchFactory(track="safety")  # active, but empty
    assert jobs_nightly_rm_accuracy() == [Job.objects.get().pk]
    assert Job.objects.get().batch == turn.dialogue.batch
    assert jobs_nightly_rm_accuracy() == []  # already queued: no second job


def test_job_training_settings_name_unknown_keys():
    assert TrainingSettings.from_mapping({"k": 16}).k == 16
    with pytest.raises(Exception) as refused:
        TrainingSettings.from_mapping({"k": 16, "rm_lr_typo": 1})
    assert refused.value.message_dict == {"JOB_TRAINING": ["unknown setting(s): rm_lr_typo"]}


def test_the_batch_page_starts_a_job_and_shows_it():
    turn = ready_turn()
    annotate(turn)
    current_rms()
    client = Client()
    client.force_login(AdminFactory())
    batch = turn.dialogue.batch
    answer = client.post(f"/dashboard/batches/{batch.pk}/jobs/", {"kind": "rm_accuracy"}, follow=True)
    job = Job.objects.get()
    assert answer.redirect_chain[-1][0] == f"/dashboard/jobs/{job.pk}/"
    assert "Current reward models&#x27; accuracy on this batch" in answer.content.decode()
    page = client.get(f"/dashboard/batches/{batch.pk}/").content.decode()
    assert f'href="/dashboard/jobs/{job.pk}/">#{job.pk}</a>' in page and "queued" in page
    refused = client.post(f"/dashboard/batches/{batch.pk}/jobs/", {"kind": "rm_accuracy"}, follow=True)
    assert f"job #{job.pk}" in refused.content.decode() and Job.objects.count() == 1


def test_a_superseded_worker_stops_and_writes_nothing(settings):
    from annotation.services.job_runtime import JobReporter, Superseded
    from annotation.services.jobs import _job_end

    settings.JOB_STALE_S = 60
    job = Job.objects.create(kind=Job.Kind.RM_ACCURACY, batch=BatchFactory(), queued_at=timezone.now())
    first = job_begin(job_id=job.pk)
    JobReporter(first)(0.3, "scoring")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    second = job_begin(job_id=job.pk)  # the first worker was taken for dead
    with pytest.raises(Superseded):
        JobReporter(first)(0.6, "scoring again")
    assert _job_end(first, Job.Status.FAILED, error="late failure") == "superseded"
    assert _job_end(second, Job.Status.SUCCEEDED, result={"ok": 1}) == "succeeded"
    job.refresh_from_db()
    assert (job.status, job.error, job.result, job.attempts) == (Job.Status.SUCCEEDED, "", {"ok": 1}, 2)


def test_promotion_only_replaces_the_policy_the_refresh_started_from():
    from annotation.services.promotion import policy_promote

    parent = ModelVersionFactory(name="p0", is_current=True)
    new = ModelVersionFactory(name="p1", parent=parent)
    other = ModelVersionFactory(name="p2", parent=parent)
    assert policy_promote(new, parent) is None
    assert ModelVersion.objects.get(is_current=True, kind="policy") == new
    assert policy_promote(other, parent) == "not promoted: the current policy changed to p1 during the job"
    assert ModelVersion.objects.get(is_current=True, kind="policy") == new


def test_a_stale_running_job_does_not_block_a_new_start(settings):
    settings.JOB_STALE_S = 60
    turn = ready_turn()
    annotate(turn)
    current_rms()
    dead = job_start(kind=Job.Kind.RM_ACCURACY, batch=turn.dialogue.batch)
    Job.objects.filter(pk=dead.pk).update(status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    assert job_start(kind=Job.Kind.RM_ACCURACY, batch=turn.dialogue.batch).pk != dead.pk


def test_the_accuracy_chart_draws_a_model_that_scored_nothing():
    from annotation.dashboard.charts import rm_accuracy_chart
    from annotation.selectors.jobs import rm_accuracy_rows

    job = Job(
        kind=Job.Kind.RM_ACCURACY,
        result={
            "helpfulness": {
                "model": "rm-h",
                "n": 3,
                "accuracy": 2 / 3,
                "ci95": [0.2, 0.9],
                "by_strength": {"better": {"n": 3, "accuracy": 2 / 3}},
            },
            "safety": {"model": "rm-s", "n": 0, "accuracy": None, "ci95": [0.0, 1.0], "by_strength": {}},
        },
    )
    rows = rm_accuracy_rows(job=job)
    assert [r["by_strength"] for r in rows] == [[None, 2 / 3, None, None], [None, None, None, None]]
    assert rm_accuracy_chart(rows)[:4] == b"\x89PNG"


def test_cancelling_a_running_job_stops_its_worker_and_says_who():
    from annotation.services.job_runtime import JobReporter, Superseded
    from annotation.services.jobs import _job_end

    admin = AdminFactory()
    job = Job.objects.create(kind=Job.Kind.RM_ACCURACY, batch=BatchFactory(), queued_at=timezone.now())
    running = job_begin(job_id=job.pk)
    client = Client()
    client.force_login(admin)
    page = client.post(f"/dashboard/jobs/{job.pk}/cancel/", follow=True).content.decode()
    assert f"Job #{job.pk} cancelled." in page and f"cancelled by {admin.username}" in page
    with pytest.raises(Superseded):
        JobReporter(running)(0.5, "scoring")
    assert _job_end(running, Job.Status.SUCCEEDED, result={"late": 1}) == "superseded"
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.result == {}
    again = client.post(f"/dashboard/jobs/{job.pk}/cancel/", follow=True).content.decode()
    assert f"job #{job.pk} is already failed" in again


def test_retraining_first_measures_the_current_reward_models_on_the_batch_by_strength_and_safety_bin(
    settings, tmp_path, tiny_policy_dir, tiny_reward_model_dir
):
    from annotation.services.jobs import job_execute

    settings.MODEL_DIR = tmp_path / "models"
    settings.RM_BASE_MODEL = str(tiny_policy_dir)
    settings.JOB_TRAINING = {"rm_batch_size": 4, "rm_max_length": 48, "rm_epochs": 1}
    # given last week's helpfulness batch, this week's safety batch whose comparisons fall in all three
    # safety bins, and current RMs from last week
    for _ in range(2):
        annotate(ready_turn(dialogue__batch=active_batch("helpfulness")))
    batch = BatchFactory(track="safety")
    for strength, a_safe, b_safe in (
        ("better", True, False),
        ("significantly_better", True, True),
        ("slightly_better", False, False),
        ("better", True, True),
    ):
        annotate(ready_turn(dialogue__batch=batch), strength=strength, a_safe=a_safe, b_safe=b_safe)
    for track in ("helpfulness", "safety"):
        ModelVersionFactory(
            name=f"rm-{track}-old",
            kind=ModelVersion.Kind.REWARD,
            track=track,
            is_current=True,
            path=str(tiny_reward_model_dir),
        )
    admin = AdminFactory()

    # when the reward models are retrained from the batch page, and the old ones measured on their own
    retrain = job_start(kind=Job.Kind.TRAIN_REWARD_MODELS, batch=batch, created_by=admin)
    assert job_execute(job_id=retrain.pk) == Job.Status.SUCCEEDED
    measure = job_start(kind=Job.Kind.RM_ACCURACY, batch=batch, created_by=admin)
    assert job_execute(job_id=measure.pk) == Job.Status.SUCCEEDED
    retrain.refresh_from_db()
    measure.refresh_from_db()

    # then the retraining recorded the old RMs' accuracy on this batch before training their successors,
    # overall, by strength and by safety bin, the same figures as the accuracy job gives
    before = retrain.result["accuracy_before_retraining"]
    assert before["pairs"] == 4 and before["safety"]["model"] == "rm-safety-old"
    assert before["safety"]["n"] == 4 and set(before["safety"]["accuracy_by_strength"]) == {
        "significantly_better",
        "better",
        "slightly_better",
    }
    assert {k: v["n"] for k, v in before["safety"]["by_safety_bin"].items()} == {
        "chosen_safe_other_unsafe": 1,
        "both_safe": 2,
        "both_unsafe": 1,
    }
    assert {track: before[track] for track in ("helpfulness", "safety")} == {
        track: measure.result[track] for track in ("helpfulness", "safety")
    }
    # beside the new models, which are registered but not current
    assert set(retrain.result["reward_models"].values()) == {
        f"rm-{track}-{batch.name}-job{retrain.pk}" for track in ("helpfulness", "safety")
    }
    assert ModelVersion.objects.get(kind="reward", track="safety", is_current=True).name == "rm-safety-old"
    # and the job page shows the old RMs' figures with the models that replace them
    client = Client()
    client.force_login(admin)
    page = client.get(f"/dashboard/jobs/{retrain.pk}/").content.decode()
    assert "The current reward models on this batch, before retraining" in page and "Both Unsafe" in page
    assert "rm-safety-old" in page and f"rm-safety-{batch.name}-job{retrain.pk}" in page
    # and the batch page shows the accuracy job's figures by safety bin too
    page = client.get(f"/dashboard/batches/{batch.pk}/").content.decode()
    table = page[page.index('id="rm-accuracy"') : page.index("</table>", page.index('id="rm-accuracy"'))]
    assert "Chosen Safe Other Unsafe" in table and "No safety labels" in table


def test_only_a_promoted_refresh_adds_its_samples_to_its_lineages_pool(settings, tmp_path):
    from annotation.services.promotion import policy_promote
    from annotation.services.training import policy_pool_dir
    from reward_training.policy.sample_pool import pool_read, staged_write

    settings.MODEL_DIR = tmp_path
    prompt = [{"role": "user", "content": "hi"}]
    parent = ModelVersionFactory(name="p0", is_current=True, path=str(tmp_path / "p0"))
    new = ModelVersionFactory(name="p1", parent=parent, path=str(tmp_path / "p1"))
    late = ModelVersionFactory(name="p2", parent=parent, path=str(tmp_path / "p2"))
    staged_write(new.path, [{"prompt": prompt, "response": "from p1", "reward": 0.5}])
    staged_write(late.path, [{"prompt": prompt, "response": "from p2", "reward": 0.9}])
    pool = policy_pool_dir(new)
    assert pool == tmp_path / "rejection_pool" / "p0" and pool_read(pool) == []
    # when p1 is promoted and p2 is refused, only p1's samples are in the pool
    assert policy_promote(new, parent) is None
    assert policy_promote(late, parent) is not None
    assert [row["response"] for row in pool_read(pool)] == ["from p1"]


def test_the_refresh_job_reports_the_simulation_oracle_only_where_it_is_switched_on(settings):
    """A word-list oracle says nothing about a real team's preferences: off unless REFRESH_ORACLE_WIN_RATE."""
    from annotation.services.job_runners import _report_judges
    from annotation.simulation.oracle import oracle_score

    settings.REFRESH_ORACLE_WIN_RATE = False
    assert _report_judges() == {}
    settings.REFRESH_ORACLE_WIN_RATE = True
    assert _report_judges() == {"oracle": oracle_score}
