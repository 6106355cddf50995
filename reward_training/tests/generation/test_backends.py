"""The generation backends: `local` is today's path; `openai` runs against a live `transformers serve`."""

import socket
import time
from types import SimpleNamespace

import pytest

from reward_training.generation import (
    GenerationRefused,
    GenerationUnavailable,
    LocalBackend,
    OpenAIBackend,
    SampleSettings,
    backend_for,
    best_of_k_seed,
    samples_generate,
)
from reward_training.generation.backends import _token_shares
from tests.serving import free_port

PROMPT = [{"role": "user", "content": "Tell me about the sea."}]


def test_local_backend_is_todays_path(tiny_loaded):
    settings = [SampleSettings(temperature=1.0, max_new_tokens=8, seed=s) for s in (1, 2)]
    through_seam = LocalBackend(tiny_loaded).samples_generate(PROMPT, settings)
    direct = samples_generate(tiny_loaded, PROMPT, settings)
    assert [s.text for s in through_seam] == [s.text for s in direct]
    assert all(s.backend == "local" and s.tokens_exact for s in through_seam)


def test_best_of_k_through_the_openai_backend(served):
    backend = backend_for(backend="openai", endpoint_url=served.url, served_name=served.served_name)
    prompts = [PROMPT, [{"role": "user", "content": "What is the capital of France?"}]]
    results = backend.best_of_k_generate(prompts, k=3, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=100)
    assert [len(r) for r in results] == [3, 3]
    for i, samples in enumerate(results):
        # transformers serve ignores `n`, so each choice came from its own request with the next seed
        assert [s.settings.seed for s in samples] == [best_of_k_seed(100, i, 3, j) for j in range(3)]
        for s in samples:
            assert s.backend == "openai" and s.tokens_exact
            assert s.prompt_tokens > 5 and 1 <= s.completion_tokens <= 12
            assert s.finished_with_eos or s.completion_tokens == 12  # stopped early only on EOS
            assert s.settings.temperature == 1.0 and s.settings.top_p == 0.95
    assert results[0][0].prompt_tokens != results[1][0].prompt_tokens  # each prompt counted on its own
    assert len({s.text for s in results[0]}) > 1  # sampled, not greedy


def test_openai_samples_follow_their_settings(served):
    backend = OpenAIBackend(served.url, served.served_name)
    seen = []
    samples = backend.samples_generate(
        PROMPT,
        [
            SampleSettings(temperature=0.7, max_new_tokens=4, seed=5),
            SampleSettings(temperature=1.3, max_new_tokens=10, seed=6),
        ],
        on_progress=seen.append,
    )
    assert [s.settings.seed for s in samples] == [5, 6]
    assert samples[0].completion_tokens <= 4 and samples[1].completion_tokens <= 10
    assert seen == [[s.text for s in samples]]  # no streaming: the final texts, once
    # No assertion that seed 5 gives the same text again: transformers serve seeds torch's global
    # generator, so two requests in flight at once draw from one stream (a server's seed is a hint).


def test_an_unknown_served_name_is_refused_not_retried(served):
    with pytest.raises(GenerationRefused, match="HTTP 400"):
        OpenAIBackend(served.url, "no-such-model").samples_generate(PROMPT, [SampleSettings(max_new_tokens=4)])


def test_a_server_that_is_down_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(GenerationUnavailable, match=f"the model server at {url} did not answer") as caught:
        OpenAIBackend(url, "chat").samples_generate(PROMPT, [SampleSettings(max_new_tokens=4)])
    assert isinstance(caught.value, ConnectionError)  # the worker's transient errors retry it


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        started = time.monotonic()
        with pytest.raises(GenerationUnavailable, match="Timeout"):
            OpenAIBackend(url, "chat", timeout_s=1.0).samples_generate(PROMPT, [SampleSettings(max_new_tokens=4)])
        assert time.monotonic() - started < 10


def _choice(text, finish):
    return SimpleNamespace(message=SimpleNamespace(content=text), finish_reason=finish)


def test_token_shares_are_exact_where_the_usage_allows():
    assert _token_shares([_choice("abc", "stop")], 7, 16) == ([7], True)
    assert _token_shares([_choice("x" * 50, "length"), _choice("abc", "stop")], 20, 16) == ([16, 4], True)
    counts, exact = _token_shares([_choice("aaaa", "stop"), _choice("aaaaaaaaaaaa", "stop")], 8, 16)
    assert counts == [2, 6] and not exact  # a share by text length, and said to be one
