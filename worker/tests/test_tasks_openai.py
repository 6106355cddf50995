"""The sampling task over the openai backend, against a live `transformers serve` (the full stack is in tests/e2e)."""

import pytest

from annotation.models import Turn
from annotation.services.model_versions import model_version_register
from annotation.tests.factories import BatchFactory, DialogueFactory, TurnFactory
from tests.serving import free_port
from worker import model_cache
from worker.tasks import turn_sample

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch):
    """Each test starts with empty model and client caches (the worker process keeps them for its life)."""
    monkeypatch.setattr(model_cache, "_models", {})
    monkeypatch.setattr(model_cache, "_servers", {})


def test_a_turn_is_sampled_by_the_model_server(served):
    version = model_version_register(
        name="served", kind="policy", endpoint_url=served.url, served_name=served.served_name
    )
    turn = TurnFactory(
        dialogue=DialogueFactory(batch=BatchFactory(policy_versions=[version], max_new_tokens=12)),
        prompt="Tell me about the sea.",
    )
    assert turn_sample.apply(args=[turn.pk]).get() == "ready"
    samples = list(Turn.objects.get(pk=turn.pk).samples.order_by("label"))
    assert [s.backend for s in samples] == ["openai", "openai"]
    assert samples[0].text != samples[1].text
    assert all(0 < s.completion_tokens <= 12 and s.prompt_tokens > 5 for s in samples)
    plan = {v["label"]: v for v in Turn.objects.get(pk=turn.pk).sampling_plan}
    assert {s.seed for s in samples} == {plan["a"]["seed"], plan["b"]["seed"]}  # the seeds sent are recorded
    assert plan["a"]["endpoint_url"] == served.url


def test_a_server_that_is_down_fails_the_turn_with_its_reason_after_the_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"
    version = model_version_register(name="down", kind="policy", endpoint_url=url, served_name="chat")
    turn = TurnFactory(dialogue=DialogueFactory(batch=BatchFactory(policy_versions=[version])))
    assert turn_sample.apply(args=[turn.pk]).get() == "failed"  # eager: the retries run at once
    turn.refresh_from_db()
    assert turn.status == Turn.Status.FAILED and not turn.samples.exists()
    assert turn.error.startswith(f"the model server at {url} did not answer")
    assert f"after {turn_sample.max_retries} retries; retry the turn once the server is up" in turn.error
