"""The sampling task run in-process on tiny models (the real worker process is in tests/e2e)."""

import pytest

from annotation.models import Turn
from annotation.services.model_versions import model_version_register
from annotation.tests.factories import BatchFactory, DialogueFactory, TurnFactory
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
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    version = model_version_register(name="broken", kind="policy", path=str(broken))
    turn = TurnFactory(dialogue=DialogueFactory(batch=BatchFactory(policy_versions=[version])))
    assert turn_sample.apply(args=[turn.pk]).get() == "failed"
    turn.refresh_from_db()
    assert turn.status == Turn.Status.FAILED and turn.error.startswith("sampling failed:")
