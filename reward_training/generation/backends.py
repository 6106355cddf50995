"""Generation backends: the one seam between our callers and whatever produces the samples.

Sampling a turn, best-of-K, rejection sampling and evaluation all make the same call: messages and
SampleSettings in, Samples out (text, token counts, finished-with-EOS, the seed used). A backend is
that call over one engine:

- `local` (LocalBackend): an in-process Hugging Face model and our batched decoding (sampling.py).
  A seed reproduces a sample exactly, whatever else shares the batch.
- `openai` (OpenAIBackend): any OpenAI-compatible server (`vllm serve`, SGLang, TGI,
  `transformers serve`) through the `openai` client. It sends temperature, top_p, max_tokens and the
  seed, reads finish_reason "stop" as finished-with-EOS and the usage for token counts, and asks for
  best-of-K with `n`. What it cannot guarantee is said in each Completion rather than faked:
  - the server's seeds need not reproduce our local ones, nor each other across servers;
  - the K choices of one `n` request share that request's seed (recorded in their settings);
  - a server that ignores `n` (transformers serve does) is asked again for the rest, each request
    with the next seed;
  - with several choices in one answer, usage gives only their total: a choice's completion_tokens
    is exact when it is the only one or hit max_tokens, else its share of the rest by text length,
    and `tokens_exact` is False.
  It does not stream: `on_progress` is called once, with the final texts.

A server that cannot be reached or does not answer in time raises GenerationUnavailable, a
ConnectionError, which callers may retry; any other refusal (an unknown served name, a bad request)
raises GenerationRefused.

PPO does not use this seam: it samples in-process from the live training weights, which no server holds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from reward_training.data.chat import Message
from reward_training.generation.sampling import (
    Completion,
    ProgressCallback,
    SampleSettings,
    best_of_k_generate,
    best_of_k_seed,
    samples_generate,
)

LOCAL = "local"
OPENAI = "openai"
BACKENDS = (LOCAL, OPENAI)


class GenerationUnavailable(ConnectionError):
    """The engine could not be reached or did not answer in time: worth retrying later."""


class GenerationRefused(RuntimeError):
    """The engine answered with a refusal (unknown model, bad request): retrying will not help."""


class GenerationBackend(Protocol):
    name: str  # "local" or "openai", recorded in each sample's provenance

    def samples_generate(
        self, messages: list[Message], settings: list[SampleSettings], *, on_progress: ProgressCallback | None = None
    ) -> list[Completion]:
        """One sample per settings entry for the same prompt, in the order of `settings`."""

    def best_of_k_generate(
        self,
        prompts: list[list[Message]],
        *,
        k: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        seed: int = 0,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[list[Completion]]:
        """K samples for each prompt, in the prompts' order; result[i][j] is sample j of prompts[i]."""


class LocalBackend:
    """An in-process Hugging Face model (a LoadedModel) and our batched decoding: today's path, unchanged."""

    name = LOCAL

    def __init__(self, loaded):
        self.loaded = loaded

    def samples_generate(self, messages, settings, *, on_progress=None):
        return samples_generate(self.loaded, messages, settings, on_progress=on_progress)

    def best_of_k_generate(
        self, prompts, *, k, temperature=1.0, top_p=1.0, max_new_tokens=256, seed=0, batch_size=8, progress=False
    ):
        return best_of_k_generate(
            self.loaded,
            prompts,
            k=k,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=seed,
            batch_size=batch_size,
            progress=progress,
        )


def _token_shares(choices: list, total: int, max_tokens: int) -> tuple[list[int], bool]:
    """Each choice's completion tokens from the answer's total, and whether they are exact (see module doc)."""
    if len(choices) == 1:
        return [total], True
    at_limit = [c.finish_reason == "length" for c in choices]
    rest = max(0, total - max_tokens * sum(at_limit))
    others = [i for i, hit in enumerate(at_limit) if not hit]
    counts = [max_tokens if hit else 0 for hit in at_limit]
    if len(others) == 1:
        counts[others[0]] = rest
        return counts, True
    weights = [len(choices[i].message.content or "") or 1 for i in others]
    for i, weight in zip(others, weights):
        counts[i] = round(rest * weight / sum(weights))
    return counts, not others


class OpenAIBackend:
    """A served model behind an OpenAI-compatible /v1/chat/completions endpoint."""

    name = OPENAI

    def __init__(
        self,
        endpoint_url: str,
        served_name: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
    ):
        """`api_key`: the server's key if it wants one; by default OPENAI_API_KEY, as the openai client reads it
        (a local server without `--api-key` accepts any)."""
        import os

        from openai import OpenAI  # imported here: only this backend needs the client

        self.endpoint_url, self.served_name = endpoint_url, served_name
        self.max_concurrency = max_concurrency
        # no client-side retries: the caller (a Celery task) decides when to try again
        self.client = OpenAI(
            base_url=endpoint_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
            timeout=timeout_s,
            max_retries=0,
        )

    def _complete(self, messages: list[Message], settings: SampleSettings, n: int, started: float) -> list[Completion]:
        """One request for `n` choices with these settings; as many Samples as the server returned."""
        import openai

        try:
            answer = self.client.chat.completions.create(
                model=self.served_name,
                messages=messages,
                n=n,
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_tokens=settings.max_new_tokens,
                seed=settings.seed,
            )
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as error:
            # APITimeoutError is an APIConnectionError; 5xx and 429 are the server's own "not now"
            raise GenerationUnavailable(
                f"the model server at {self.endpoint_url} did not answer ({type(error).__name__}: {error})"
            ) from error
        except openai.APIStatusError as error:
            raise GenerationRefused(
                f"the model server at {self.endpoint_url} refused {self.served_name!r}: "
                f"HTTP {error.status_code} {error.message}"
            ) from error
        seconds = time.perf_counter() - started
        choices = sorted(answer.choices, key=lambda c: c.index)
        usage = answer.usage
        counts, exact = _token_shares(choices, usage.completion_tokens if usage else 0, settings.max_new_tokens)
        return [
            Completion(
                text=(choice.message.content or "").strip(),
                settings=settings,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=count,
                seconds=seconds,
                finished_with_eos=choice.finish_reason == "stop",
                backend=self.name,
                tokens_exact=exact and usage is not None,
            )
            for choice, count in zip(choices, counts)
        ]

    def _k_samples(self, messages: list[Message], settings: SampleSettings, k: int, seed_of) -> list[Completion]:
        """K choices for one prompt: one `n=k` request, then more for what a server that ignores `n` left out."""
        started = time.perf_counter()
        samples: list[Completion] = []
        while len(samples) < k:
            request = SampleSettings(
                settings.temperature, settings.top_p, settings.max_new_tokens, seed_of(len(samples))
            )
            got = self._complete(messages, request, k - len(samples), started)
            if not got:
                raise GenerationRefused(f"the model server at {self.endpoint_url} returned no choices")
            samples += got[: k - len(samples)]
        return samples

    def samples_generate(self, messages, settings, *, on_progress=None):
        """One request per settings entry (each has its own seed), sent concurrently."""
        if not settings:
            return []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(len(settings), self.max_concurrency)) as pool:
            answers = list(pool.map(lambda s: self._complete(messages, s, 1, started)[0], settings))
        if on_progress is not None:
            on_progress([s.text for s in answers])
        return answers

    def best_of_k_generate(
        self, prompts, *, k, temperature=1.0, top_p=1.0, max_new_tokens=256, seed=0, batch_size=8, progress=False
    ):
        """Prompt i asks for n=k with seed best_of_k_seed(seed, i, k, 0); `batch_size` prompts are in flight
        at once. A top-up request for choices j.. (a server that ignores `n`) sends best_of_k_seed(seed, i, k, j)."""
        if k < 1 or batch_size < 1:
            raise ValueError("k and batch_size must be >= 1")
        base = SampleSettings(temperature, top_p, max_new_tokens, seed)

        def one(i: int) -> list[Completion]:
            return self._k_samples(prompts[i], base, k, lambda j: best_of_k_seed(seed, i, k, j))

        with ThreadPoolExecutor(max_workers=min(max(1, len(prompts)), batch_size, self.max_concurrency)) as pool:
            return list(pool.map(one, range(len(prompts))))


def backend_for(
    *, backend: str, loaded=None, endpoint_url: str = "", served_name: str = "", timeout_s: float = 120.0
) -> GenerationBackend:
    """The backend a model version names: `local` over a LoadedModel, `openai` over an endpoint."""
    if backend == LOCAL:
        if loaded is None:
            raise ValueError("the local backend needs a loaded model")
        return LocalBackend(loaded)
    if backend == OPENAI:
        if not endpoint_url or not served_name:
            raise ValueError("the openai backend needs an endpoint URL and a served model name")
        return OpenAIBackend(endpoint_url, served_name, timeout_s=timeout_s)
    raise ValueError(f"unknown generation backend {backend!r} (one of {', '.join(BACKENDS)})")
