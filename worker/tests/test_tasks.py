"""The sampling task run in-process on tiny models (the real worker process is in tests/e2e)."""

import pytest
from django.conf import settings
from django.db import OperationalError

from annotation.models import Turn
from annotation.services.model_versions import model_version_register
from annotation.services.sampling import SAMPLING_FAILED_REASON, GeneratedSample
from annotation.tests.factories import BatchFactory, DialogueFactory, TurnFactory, unloadable_policy_turn
from worker import tasks
from worker.tasks import turn_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_model_batch(tiny_policy_dir, tiny_policy_dir_2):
    v1 = model_version_register(name="tiny-1", kind="policy", path=str(tiny_policy_dir))
    v2 = model_version_register(name="tiny-2", kind="policy", path=str(tiny_policy_dir_2))
    return BatchFactory(policy_versions=[v1, v2], temperature_min=0.8, temperature_max=1.3, max_new_tokens=12)


def test_a_turn_gets_two_samples_from_two_versions_at_two_temperatures(two_model_batch):
    turn = TurnFactory(dialogue=DialogueFactory(batch=two_model_batch), prompt="Tell me about the sea.")
    assert turn_sample.apply(args=[turn.pk]).get() == "ready"
    turn.refresh_from_db()
    samples = list(turn.samples.order_by("label"))
    assert turn.status == "ready" and len(samples) == 2
    assert {s.model_version.name for s in samples} == {"tiny-1", "tiny-2"}
    assert samples[0].temperature != samples[1].temperature
    assert all(0.8 <= s.temperature <= 1.3 and 0 < s.completion_tokens <= 12 and s.prompt_tokens > 0 for s in samples)
    assert samples[0].text != samples[1].text
    # a redelivered task changes nothing
    assert turn_sample.apply(args=[turn.pk]).get() == "skipped"
    assert turn.samples.count() == 2


def test_a_model_that_cannot_load_fails_the_turn_with_a_reason(tmp_path):
    turn = unloadable_policy_turn(tmp_path)
    assert turn_sample.apply(args=[turn.pk]).get() == "failed"
    turn.refresh_from_db()
    # the annotator reads a plain reason; the exception is for admins
    assert turn.status == Turn.Status.FAILED and turn.error == SAMPLING_FAILED_REASON
    assert "Error" not in turn.error and turn.error_detail.split(":")[0].endswith("Error")
    assert "Traceback (most recent call last)" in turn.error_detail


def _fixed_texts(texts_per_call: list[tuple[str, str]], seen_seeds: list):
    """A stand-in for the model call: returns the given texts call by call and records the seeds asked for."""
    calls = iter(texts_per_call)

    def generate(job):
        seen_seeds.append(tuple(v.seed for v in job.variants))
        a, b = next(calls)
        return [
            GeneratedSample(label=v.label, text=text, prompt_tokens=3, completion_tokens=2, seconds=0.01)
            for v, text in zip(job.variants, (a, b))
        ]

    return generate


def test_identical_responses_are_sampled_again_with_fresh_seeds(two_model_batch, monkeypatch):
    seeds = []
    monkeypatch.setattr(tasks, "_generate", _fixed_texts([("Hello.", "Hello."), ("Hello.", "Hi there.")], seeds))
    turn = TurnFactory(dialogue=DialogueFactory(batch=two_model_batch), prompt="Say hello.")
    assert turn_sample.apply(args=[turn.pk]).get() == "ready"
    turn.refresh_from_db()
    assert turn.status == "ready" and sorted(turn.samples.values_list("text", flat=True)) == ["Hello.", "Hi there."]
    assert len(seeds) == 2 and seeds[0] != seeds[1]  # the second try drew new seeds


def test_responses_identical_every_time_fail_the_turn_with_a_reason(two_model_batch, monkeypatch):
    tries = settings.SAMPLING_MAX_IDENTICAL_RETRIES + 1
    seeds = []
    monkeypatch.setattr(tasks, "_generate", _fixed_texts([("Same.", "Same.")] * tries, seeds))
    turn = TurnFactory(dialogue=DialogueFactory(batch=two_model_batch), prompt="Say the same.")
    assert turn_sample.apply(args=[turn.pk]).get() == "failed"
    turn.refresh_from_db()
    assert turn.status == Turn.Status.FAILED and "identical" in turn.error and turn.samples.count() == 0
    assert len(seeds) == tries


def test_the_sampling_task_survives_redelivery_and_transient_errors():
    """The reliability options the issue names: late acks, requeue on a lost worker, time limits, back-off."""
    assert turn_sample.acks_late and turn_sample.reject_on_worker_lost
    assert 0 < turn_sample.soft_time_limit < turn_sample.time_limit
    assert OperationalError in turn_sample.autoretry_for and ConnectionError in turn_sample.autoretry_for
    assert turn_sample.retry_backoff and turn_sample.max_retries >= 3
    # through an outage it keeps trying for minutes, never more than a few seconds apart
    from celery.utils.time import get_exponential_backoff_interval

    delays = [
        get_exponential_backoff_interval(
            turn_sample.retry_backoff, n, turn_sample.retry_backoff_max, turn_sample.retry_jitter
        )
        for n in range(turn_sample.max_retries)
    ]
    assert sum(delays) >= settings.SAMPLING_RETRY_BUDGET_S >= 300 and max(delays) <= 5


def test_the_texts_so_far_are_published_by_label_across_both_model_versions(two_model_batch, monkeypatch):
    from reward_training.generation import sampling

    monkeypatch.setattr(sampling, "PROGRESS_EVERY_S", 0.0)  # publish after every token
    published, publish = [], tasks.turn_sampling_progress

    def progress_seen(*, turn_id, texts):  # the real service, and what the row held just after it
        written = publish(turn_id=turn_id, texts=texts)
        # PostgreSQL cannot store NUL, which the tiny model's vocabulary can decode to (token 195), so it is dropped
        texts = {label: text.replace("\x00", "") for label, text in texts.items()}
        published.append((texts, Turn.objects.get(pk=turn_id).partial_responses, written))
        return written

    monkeypatch.setattr(tasks, "turn_sampling_progress", progress_seen)
    turn = TurnFactory(dialogue=DialogueFactory(batch=two_model_batch), prompt="Tell me about the sea.")
    assert turn_sample.apply(args=[turn.pk]).get() == "ready"
    # each version's call publishes its own row; the second call's updates carry the first one's final text
    assert len(published) >= 4 and all(written for _, _, written in published)
    assert all(texts == row for texts, row, _ in published)
    first_label = next(iter(published[0][0]))
    assert set(published[0][0]) == {first_label} and set(published[-1][0]) == {"a", "b"}
    turn.refresh_from_db()
    final = {s.label: s.text for s in turn.samples.all()}
    assert published[-1][0][first_label] == final[first_label]
    assert turn.partial_responses is None  # the saved pair replaces the texts so far


def test_a_failure_to_publish_progress_does_not_fail_the_sampling(two_model_batch, monkeypatch):
    from reward_training.generation import sampling

    monkeypatch.setattr(sampling, "PROGRESS_EVERY_S", 0.0)
    calls = []

    def progress_down(*, turn_id, texts):
        calls.append(texts)
        raise OperationalError("the database went away for a moment")

    monkeypatch.setattr(tasks, "turn_sampling_progress", progress_down)
    turn = TurnFactory(dialogue=DialogueFactory(batch=two_model_batch), prompt="Tell me about the sea.")
    assert turn_sample.apply(args=[turn.pk]).get() == "ready"
    turn.refresh_from_db()
    assert calls and turn.status == "ready" and turn.samples.count() == 2


def test_cpu_workers_decode_in_the_configured_dtype(settings):
    import pytest
    import torch

    from worker.model_cache import decode_dtype

    assert decode_dtype(torch.device("cpu")) == torch.bfloat16  # the default: SAMPLING_CPU_DECODE_DTYPE=bfloat16
    assert decode_dtype(torch.device("cuda")) is None  # CUDA weights are bf16 already
    settings.SAMPLING_CPU_DECODE_DTYPE = "float32"
    assert decode_dtype(torch.device("cpu")) is None
    settings.SAMPLING_CPU_DECODE_DTYPE = "bfloat17"
    with pytest.raises(ValueError, match="SAMPLING_CPU_DECODE_DTYPE"):
        decode_dtype(torch.device("cpu"))
