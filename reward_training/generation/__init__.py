"""Generation: loading a chat model, encoding prompts, batched per-row sampling and best-of-K, and the
backends that run them (in-process, or any OpenAI-compatible server: see backends.py).

    from reward_training.generation import (
        model_load, prompt_encode, SampleSettings, Completion, samples_generate, best_of_k_generate,
        ProgressCallback, GenerationBackend, backend_for,
    )
"""

from reward_training.generation.backends import (
    BACKENDS,
    GenerationBackend,
    GenerationRefused,
    GenerationUnavailable,
    LocalBackend,
    OpenAIBackend,
    backend_for,
)
from reward_training.generation.loading import LoadedModel, model_load
from reward_training.generation.prompt import PromptTooLong, prompt_encode
from reward_training.generation.sampling import (
    PROGRESS_EVERY_S,
    Completion,
    ProgressCallback,
    SampleSettings,
    best_of_k_generate,
    best_of_k_seed,
    next_tokens,
    samples_generate,
)

__all__ = [
    "BACKENDS",
    "GenerationBackend",
    "GenerationRefused",
    "GenerationUnavailable",
    "LocalBackend",
    "OpenAIBackend",
    "backend_for",
    "PROGRESS_EVERY_S",
    "LoadedModel",
    "ProgressCallback",
    "PromptTooLong",
    "Completion",
    "SampleSettings",
    "best_of_k_generate",
    "best_of_k_seed",
    "model_load",
    "next_tokens",
    "prompt_encode",
    "samples_generate",
]
