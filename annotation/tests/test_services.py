import random
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Batch, ModelVersion, Turn
from annotation.services.batches import batch_activate, batch_create
from annotation.services.dialogues import dialogue_create, turn_create, turn_retry
from annotation.services.model_versions import model_version_register, model_version_set_current
from annotation.services.sampling import (
    GeneratedSample,
    sampling_plan_draw,
    turn_samples_save,
    turn_sampling_begin,
    turn_sampling_enqueue,
    turn_sampling_fail,
    turn_sampling_progress,
    turns_requeue_stuck,
)
from annotation.services.users import user_create
from annotation.tests.factories import (
    BatchFactory,
    DialogueFactory,
    ModelVersionFactory,
    TurnFactory,
    UserFactory,
    active_batch,
    annotate,
    ready_turn,
)

pytestmark = pytest.mark.django_db


def test_user_create_makes_admins_staff_and_refuses_duplicates():
    admin = user_create(username="boss", password="boss-passphrase", role="admin")
    annotator = user_create(username="ann", password="ann-passphrase", role="annotator", tracks=["safety"])
    assert admin.is_staff and not annotator.is_staff
    assert annotator.profile.tracks == ["safety"] and annotator.profile.pseudonym != "ann"
    with pytest.raises(ValidationError) as error:
        user_create(username="ann", password="ann-passphrase", role="annotator")
    assert "username" in error.value.message_dict


def test_register_model_needs_a_model_directory_and_a_track_for_reward_models(tiny_policy_dir, tmp_path):
    with pytest.raises(ValidationError) as error:
        model_version_register(name="x", kind="policy", path=str(tmp_path))
    assert "path" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        model_version_register(name="rm", kind="reward", path=str(tiny_policy_dir))
    assert "track" in error.value.message_dict
    version = model_version_register(name="p1", kind="policy", path=str(tiny_policy_dir), current=True)
    assert version.is_current and version.track == ""


def test_one_current_version_per_kind_and_track(tiny_policy_dir):
    p1 = model_version_register(name="p1", kind="policy", path=str(tiny_policy_dir), current=True)
    p2 = model_version_register(name="p2", kind="policy", path=str(tiny_policy_dir), current=True, parent=p1)
    rm = model_version_register(name="rm", kind="reward", track="safety", path=str(tiny_policy_dir), current=True)
    p1.refresh_from_db()
    assert not p1.is_current and p2.is_current and rm.is_current
    model_version_set_current(version=p1)  # rollback
    assert set(ModelVersion.objects.filter(is_current=True).values_list("name", flat=True)) == {"p1", "rm"}
    with pytest.raises(IntegrityError):  # the database itself refuses two current policies
        ModelVersion.objects.filter(name="p2").update(is_current=True)


def test_batch_create_reports_every_bad_field():
    ModelVersionFactory(name="rm", kind="reward", track="safety")
    with pytest.raises(ValidationError) as error:
        batch_create(
            name="",
            track="fun",
            policy_versions=["missing"],
            temperature_min=1.0,
            temperature_max=0.5,
            target_comparisons=0,
            overlap_fraction=2,
        )
    assert set(error.value.message_dict) >= {
        "name",
        "track",
        "policy_versions",
        "temperature_max",
        "target_comparisons",
        "overlap_fraction",
    }
    with pytest.raises(ValidationError) as error:
        batch_create(
            name="b",
            track="safety",
            policy_versions=["rm"],
            temperature_min=0.5,
            temperature_max=1.0,
            target_comparisons=10,
        )
    assert error.value.message_dict["policy_versions"] == ["only policy versions can sample"]


def test_only_one_active_batch_per_track():
    BatchFactory(name="week1", track="helpfulness")
    draft = BatchFactory(name="week2", track="helpfulness", status=Batch.Status.DRAFT)
    with pytest.raises(Conflict, match="week1"):
        batch_activate(batch=draft)
    other_track = BatchFactory(name="safety1", track="safety", status=Batch.Status.DRAFT)
    assert batch_activate(batch=other_track).status == "active"


def test_dialogue_needs_an_active_batch_and_an_allowed_track():
    user = UserFactory(profile__tracks=["safety"])
    with pytest.raises(Conflict):
        dialogue_create(annotator=user, track="safety")
    BatchFactory(track="helpfulness", system_prompt="Be brief.")
    with pytest.raises(PermissionDenied):
        dialogue_create(annotator=user, track="helpfulness")
    anyone = UserFactory()
    dialogue = dialogue_create(annotator=anyone, track="helpfulness")
    assert dialogue.system_prompt == "Be brief."


def test_next_turn_waits_for_the_previous_comparison():
    dialogue = DialogueFactory()
    first = turn_create(dialogue=dialogue, prompt="  hi  ")
    assert first.status == "sampling" and first.prompt == "hi" and first.index == 0
    with pytest.raises(Conflict):
        turn_create(dialogue=dialogue, prompt="again")
    with pytest.raises(ValidationError):
        turn_create(dialogue=dialogue, prompt="   ")


def test_sampling_plan_uses_two_versions_two_temperatures_and_random_positions():
    v1, v2 = ModelVersionFactory(name="m1"), ModelVersionFactory(name="m2")
    rng = random.Random(0)
    a_models = set()
    for _ in range(50):
        plan = sampling_plan_draw(
            versions=[v1, v2], temperature_min=0.6, temperature_max=1.2, top_p=0.9, max_new_tokens=32, rng=rng
        )
        assert [v.label for v in plan] == ["a", "b"]
        assert plan[0].model_name != plan[1].model_name
        assert plan[0].temperature != plan[1].temperature
        assert all(0.6 <= v.temperature <= 1.2 for v in plan)
        a_models.add(plan[0].model_name)
    assert a_models == {"m1", "m2"}  # neither position always holds one model


def test_a_redelivered_sampling_stores_samples_once():
    turn = TurnFactory()
    job = turn_sampling_begin(turn_id=turn.pk)
    again = turn_sampling_begin(turn_id=turn.pk)
    assert job.variants == again.variants  # the plan is fixed once
    samples = [
        GeneratedSample(label=v.label, text=f"text {v.label}", prompt_tokens=3, completion_tokens=2, seconds=0.1)
        for v in job.variants
    ]
    assert turn_samples_save(turn_id=turn.pk, variants=job.variants, samples=samples)
    assert not turn_samples_save(turn_id=turn.pk, variants=job.variants, samples=samples)
    turn.refresh_from_db()
    assert turn.status == "ready" and turn.samples.count() == 2
    assert turn_sampling_begin(turn_id=turn.pk) is None


def test_progress_is_published_while_sampling_and_cleared_when_the_pair_is_saved():
    # given a turn a worker has begun
    turn = TurnFactory()
    job = turn_sampling_begin(turn_id=turn.pk)
    # when the worker publishes the texts so far (a NUL, which PostgreSQL's jsonb refuses, and a stray label)
    assert turn_sampling_progress(turn_id=turn.pk, texts={"a": "Once", "b": "The\x00 sea", "c": "?"})
    turn.refresh_from_db()
    assert turn.partial_responses == {"a": "Once", "b": "The sea"}
    assert turn_sampling_progress(turn_id=turn.pk, texts={"a": "Once upon", "b": "The sea is"})
    turn.refresh_from_db()
    assert turn.partial_responses == {"a": "Once upon", "b": "The sea is"}
    # then saving the pair clears them, and a late publish (another delivery) writes nothing
    samples = [
        GeneratedSample(label=v.label, text=f"text {v.label}", prompt_tokens=3, completion_tokens=2, seconds=0.1)
        for v in job.variants
    ]
    assert turn_samples_save(turn_id=turn.pk, variants=job.variants, samples=samples)
    assert not turn_sampling_progress(turn_id=turn.pk, texts={"a": "late"})
    turn.refresh_from_db()
    assert turn.status == "ready" and turn.partial_responses is None


def test_a_redelivery_or_a_failure_drops_the_texts_so_far():
    turn = TurnFactory()
    turn_sampling_begin(turn_id=turn.pk)
    turn_sampling_progress(turn_id=turn.pk, texts={"a": "half a repl"})
    turn_sampling_begin(turn_id=turn.pk)  # a redelivered task starts from the first token again
    turn.refresh_from_db()
    assert turn.partial_responses is None
    turn_sampling_progress(turn_id=turn.pk, texts={"a": "half a repl"})
    turn_sampling_fail(turn_id=turn.pk, reason="boom")
    turn.refresh_from_db()
    assert turn.status == "failed" and turn.partial_responses is None
    assert not turn_sampling_progress(turn_id=turn.pk, texts={"a": "after the failure"})
    assert not turn_sampling_progress(turn_id=999_999_999, texts={"a": "no such turn"})


def test_embedded_mode_samples_on_a_background_thread_unless_told_to_run_inline(settings, monkeypatch):
    from worker import background

    submitted = []
    monkeypatch.setattr(background, "background_submit", lambda task, *args: submitted.append((task.name, args)))
    turn = TurnFactory()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SAMPLING_EAGER_IN_THREAD = True
    turn_sampling_enqueue(turn_id=turn.pk)
    assert submitted == [("worker.tasks.turn_sample", (turn.pk,))]
    # inline (the test settings): the task runs before enqueue returns; this turn's model cannot load
    settings.SAMPLING_EAGER_IN_THREAD = False
    turn_sampling_enqueue(turn_id=turn.pk)
    turn.refresh_from_db()
    assert len(submitted) == 1 and turn.status == "failed"


def test_stuck_turns_are_requeued_then_failed(settings):
    settings.SAMPLING_MAX_ATTEMPTS = 2
    stale = timezone.now() - timedelta(hours=1)
    turn = TurnFactory(sampling_attempts=1, sampling_queued_at=stale)
    fresh = TurnFactory(sampling_attempts=1, sampling_queued_at=timezone.now())
    assert turns_requeue_stuck(older_than_s=60) == {"requeued": [turn.pk], "failed": [], "queued": 0}
    Turn.objects.filter(pk=turn.pk).update(sampling_queued_at=stale)
    assert turns_requeue_stuck(older_than_s=60) == {"requeued": [], "failed": [turn.pk], "queued": 0}
    turn.refresh_from_db()
    fresh.refresh_from_db()
    assert turn.status == "failed" and "2 attempts" in turn.error and fresh.status == "sampling"
    assert turn_retry(turn=turn).status == "sampling"
    with pytest.raises(Conflict):
        turn_retry(turn=fresh)


@pytest.mark.parametrize(
    "chosen,a_safe,b_safe,expected_bin,flagged",
    [
        ("a", True, False, "chosen_safe_other_unsafe", False),
        ("b", False, True, "chosen_safe_other_unsafe", False),
        ("a", True, True, "both_safe", False),
        ("b", False, False, "both_unsafe", False),
        ("a", False, True, None, True),
    ],
)
def test_safety_bins(chosen, a_safe, b_safe, expected_bin, flagged):
    turn = ready_turn(dialogue=DialogueFactory(batch=active_batch("safety")))
    comparison = annotate(turn, chosen=chosen, a_safe=a_safe, b_safe=b_safe)
    assert comparison.safety_bin == expected_bin and comparison.unsafe_chosen == flagged


def test_comparison_rules():
    safety_turn = ready_turn(dialogue=DialogueFactory(batch=active_batch("safety")))
    with pytest.raises(ValidationError) as error:
        annotate(safety_turn)
    assert set(error.value.message_dict) == {"a_safe", "b_safe"}
    turn = ready_turn()
    annotate(turn)
    turn.refresh_from_db()
    assert turn.status == "annotated"
    with pytest.raises(Conflict):
        annotate(turn)
    with pytest.raises(Conflict):  # still sampling
        annotate(TurnFactory())
