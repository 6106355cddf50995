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


def test_an_iterations_batches_sample_the_current_policy_and_its_parent_at_two_temperatures():
    from annotation.services.iterations import IterationConfig, _open_batches

    v0 = ModelVersionFactory(name="sft")
    v1 = ModelVersionFactory(name="policy-iter1", parent=v0, is_current=True)
    last_week = active_batch("safety")
    batches = _open_batches(2, v1, IterationConfig(url=""))

    assert [b.name for b in batches] == ["iter2-helpfulness", "iter2-safety"]
    assert all(b.status == Batch.Status.ACTIVE for b in batches)
    last_week.refresh_from_db()
    assert last_week.status == Batch.Status.CLOSED
    for batch in batches:
        assert sorted(batch.policy_versions.values_list("name", flat=True)) == ["policy-iter1", "sft"]
        # each pair: one reply from each version, at temperatures from the two halves of the range
        plan = sampling_plan_draw(
            versions=list(batch.policy_versions.all()),
            temperature_min=batch.temperature_min,
            temperature_max=batch.temperature_max,
            top_p=0.9,
            max_new_tokens=8,
            rng=random.Random(3),
        )
        assert {v.model_name for v in plan} == {"policy-iter1", "sft"}
        assert plan[0].temperature != plan[1].temperature


def test_a_first_policy_samples_alone_at_two_temperatures_and_a_rollback_pairs_with_the_policy_sampled_before():
    from annotation.services.iterations import IterationConfig, _open_batches

    first = ModelVersionFactory(name="sft", is_current=True)
    (batch, _) = _open_batches(1, first, IterationConfig(url=""))
    assert list(batch.policy_versions.values_list("name", flat=True)) == ["sft"]
    assert batch.temperature_min < batch.temperature_max

    # a policy registered without a parent pairs with the one the latest batch sampled
    other = ModelVersionFactory(name="registered-by-hand")
    (batch, _) = _open_batches(2, other, IterationConfig(url=""))
    assert sorted(batch.policy_versions.values_list("name", flat=True)) == ["registered-by-hand", "sft"]
    # and --no-sample-parent keeps one version
    (batch, _) = _open_batches(3, other, IterationConfig(url="", sample_parent=False))
    assert list(batch.policy_versions.values_list("name", flat=True)) == ["registered-by-hand"]


def test_rejection_sampling_temperature_follows_the_policys_rlhf_round():
    from annotation.services.iterations import IterationConfig, _rlhf_round

    sft = ModelVersionFactory(name="sft")
    rs1 = ModelVersionFactory(name="policy-iter1", parent=sft, lineage={"method": "rejection_sampling"})
    ppo1 = ModelVersionFactory(name="policy-iter1-ppo", parent=rs1, lineage={"method": "ppo"})
    rs2 = ModelVersionFactory(name="policy-iter2", parent=ppo1, lineage={"method": "rejection_sampling"})
    assert [_rlhf_round(v) for v in (sft, rs1, ppo1, rs2)] == [0, 1, 1, 2]

    config = IterationConfig(url="")  # paper Fig. 8: 1.0 for the SFT model, 1.2 once RLHF has begun
    assert [config.training(_rlhf_round(v)).temperature for v in (sft, rs1, rs2)] == [1.0, 1.2, 1.2]
    schedule = IterationConfig(url="", rs_temperatures=(0.9, 1.1, 1.3))
    assert [schedule.rs_temperature(r) for r in range(5)] == [0.9, 1.1, 1.3, 1.3, 1.3]
    assert IterationConfig(url="", temperature=0.8).rs_temperature(3) == 0.8  # one T for this iteration
    with pytest.raises(ValueError, match="above 0"):
        IterationConfig(url="", rs_temperatures=(1.0, 0.0))


def test_an_iteration_scores_the_current_reward_models_on_each_new_batch_before_retraining(
    tmp_path, tiny_reward_model_dir
):
    from annotation.services.iterations import _accuracy_before_retraining

    helpfulness, safety = BatchFactory(track="helpfulness"), BatchFactory(track="safety")
    annotate(ready_turn(dialogue__batch=helpfulness), strength="significantly_better")
    annotate(ready_turn(dialogue__batch=safety), strength="better", a_safe=True, b_safe=False)
    annotate(ready_turn(dialogue__batch=safety), strength="slightly_better", a_safe=False, b_safe=False)
    assert _accuracy_before_retraining([helpfulness, safety], tmp_path) == {}  # a first iteration: no RMs yet

    for track in ("helpfulness", "safety"):
        model_version_register(
            name=f"rm-{track}-iter1", kind="reward", track=track, path=str(tiny_reward_model_dir), current=True
        )
    measured = _accuracy_before_retraining([helpfulness, safety], tmp_path)
    assert set(measured) == {helpfulness.name, safety.name}
    assert measured[helpfulness.name]["pairs"] == 1 and measured[safety.name]["pairs"] == 2
    on_safety = measured[safety.name]["safety"]
    assert on_safety["model"] == "rm-safety-iter1" and on_safety["n"] == 2
    assert set(on_safety["accuracy_by_strength"]) == {"better", "slightly_better"}
    assert {k: v["n"] for k, v in on_safety["by_safety_bin"].items()} == {
        "chosen_safe_other_unsafe": 1,
        "both_unsafe": 1,
    }
    assert measured[helpfulness.name]["helpfulness"]["by_safety_bin"]["none"]["n"] == 1


def test_each_policy_lineage_has_its_own_pool_and_a_hand_promotion_catches_up(settings, tmp_path):
    from annotation.services.training import policy_pool_dir, policy_pool_merge
    from reward_training.policy.sample_pool import pool_read, staged_write

    settings.MODEL_DIR = tmp_path
    prompt = [{"role": "user", "content": "hi"}]
    demo = ModelVersionFactory(name="demo-chat-v0", path=str(tmp_path / "demo"))
    rs = ModelVersionFactory(name="demo-iter1", parent=demo, path=str(tmp_path / "rs"))
    ppo = ModelVersionFactory(name="demo-iter1-ppo", parent=rs, path=str(tmp_path / "ppo"))
    smol = ModelVersionFactory(name="smollm2", path=str(tmp_path / "smol"))
    smol_rs = ModelVersionFactory(name="smollm2-iter1", parent=smol, path=str(tmp_path / "smol-rs"))
    staged_write(rs.path, [{"prompt": prompt, "response": "demo's", "reward": 0.5}])
    staged_write(smol_rs.path, [{"prompt": prompt, "response": "smol's", "reward": 0.5}])
    # given a PPO policy grown from a rejection-sampling step, made current by hand
    model_version_set_current(version=ppo)
    # when the next refresh catches up, the rejection-sampling step's samples join the demo lineage's pool
    assert policy_pool_merge(policy=ppo) == [1]
    assert policy_pool_merge(policy=ppo) == [1]  # again: nothing new
    assert policy_pool_dir(ppo) == policy_pool_dir(demo) == tmp_path / "rejection_pool" / "demo-chat-v0"
    assert [row["response"] for row in pool_read(policy_pool_dir(ppo))] == ["demo's"]
    # and the SmolLM2 lineage's pool stays apart until one of its policies is promoted
    assert pool_read(policy_pool_dir(smol_rs)) == []
    assert policy_pool_merge(policy=smol_rs) == [1]
    assert [row["response"] for row in pool_read(policy_pool_dir(smol))] == ["smol's"]
