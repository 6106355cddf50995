"""The sampling paths bench/sampling.py times against each other (naive, strong, generate_batch, ours,
openai; its docstring says what each does). Each takes the same loaded model, prompts and settings and
returns (samples, completion tokens, seconds); bench/gpu/gpu_bench.py runs two of them on a GPU."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from reward_training.generation import best_of_k_generate, prompt_encode


def until_eos(tokens: list[int], eos: set[int]) -> list[int]:
    """The completion up to and including its first EOS token."""
    for n, token in enumerate(tokens):
        if token in eos:
            return tokens[: n + 1]
    return tokens


def left_padded(ids: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (B, L), the prompts right-aligned."""
    length = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), length), pad_id, dtype=torch.long)  # (B, L)
    mask = torch.zeros((len(ids), length), dtype=torch.long)  # (B, L)
    for i, row in enumerate(ids):
        input_ids[i, length - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, length - len(row) :] = 1
    return input_ids.to(device), mask.to(device)


def _generate_kwargs(loaded, *, temperature, top_p, max_new_tokens) -> dict:
    return dict(
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        top_k=0,
        max_new_tokens=max_new_tokens,
        eos_token_id=list(loaded.eos_token_ids),
        pad_token_id=loaded.pad_token_id,
        use_cache=True,
    )


@torch.inference_mode()
def naive_run(loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size) -> tuple[int, int, float]:
    """One generate call per sample; returns (samples, completion tokens, seconds)."""
    eos = set(loaded.eos_token_ids)
    samples = tokens = 0
    started = time.perf_counter()
    for i, messages in enumerate(prompts):
        ids = torch.tensor([prompt_encode(loaded, messages, max_new_tokens)], device=loaded.device)
        for j in range(k):
            torch.manual_seed(seed + i * k + j)
            out = loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                num_return_sequences=1,
                **_generate_kwargs(loaded, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens),
            )
            samples += 1
            tokens += len(until_eos(out[0, ids.shape[1] :].tolist(), eos))
    return samples, tokens, time.perf_counter() - started


@torch.inference_mode()
def strong_run(loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size) -> tuple[int, int, float]:
    """One batched, left-padded generate(num_return_sequences=K) per `batch_size` prompts, in order."""
    eos = set(loaded.eos_token_ids)
    samples = tokens = 0
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        encoded = [prompt_encode(loaded, m, max_new_tokens) for m in prompts[start : start + batch_size]]
        input_ids, mask = left_padded(encoded, loaded.pad_token_id, loaded.device)
        torch.manual_seed(seed + start * k)
        out = loaded.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            num_return_sequences=k,
            **_generate_kwargs(loaded, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens),
        )  # (B * K, L + new), row b * K + j is sample j of prompt b
        for row in out[:, input_ids.shape[1] :].tolist():
            samples += 1
            tokens += len(until_eos(row, eos))
    return samples, tokens, time.perf_counter() - started


def generate_batch_run(
    loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size
) -> tuple[int, int, float]:
    """transformers' continuous batching over all prompts at once (paged KV cache sized to the workload)."""
    from transformers import ContinuousBatchingConfig, GenerationConfig

    eos = set(loaded.eos_token_ids)
    started = time.perf_counter()
    encoded = [prompt_encode(loaded, m, max_new_tokens) for m in prompts]
    generation = GenerationConfig(
        num_return_sequences=k,
        **_generate_kwargs(loaded, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens),
    )
    page = 256  # ContinuousBatchingConfig's default page size (tokens per block)
    blocks = sum(math.ceil((len(ids) + max_new_tokens) / page) for ids in encoded) * k
    # Left to itself on a CPU, the manager sizes its cache as for a GPU's free memory: 3x slower here.
    config = ContinuousBatchingConfig(num_blocks=blocks, max_batch_tokens=2048, seed=seed)
    out = loaded.model.generate_batch(
        encoded, generation_config=generation, continuous_batching_config=config, warmup=loaded.device.type == "cuda"
    )
    seconds = time.perf_counter() - started
    failed = [key for key, result in out.items() if result.error is not None]
    if failed or len(out) != len(prompts) * k:
        raise RuntimeError(f"generate_batch returned {len(out)} of {len(prompts) * k} samples, {len(failed)} failed")
    return len(out), sum(len(until_eos(r.generated_tokens, eos)) for r in out.values()), seconds


def ours_run(loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size) -> tuple[int, int, float]:
    started = time.perf_counter()
    results = best_of_k_generate(
        loaded,
        prompts,
        k=k,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_size=batch_size,
    )
    seconds = time.perf_counter() - started
    return sum(len(r) for r in results), sum(s.completion_tokens for r in results for s in r), seconds


class OpenAIPath:
    """The openai backend against a live `transformers serve` of the same model (started once, untimed)."""

    def __init__(self, model_dir: Path, log_dir: Path):
        from transformers import GenerationConfig

        from reward_training.generation.backends import OpenAIBackend
        from tests.serving import TransformersServe

        # transformers serve samples only where the generation config says do_sample: serve a copy that does
        self.served_dir = log_dir / "served-model"
        self.served_dir.mkdir(parents=True, exist_ok=True)
        for item in Path(model_dir).iterdir():
            if item.name != "generation_config.json":
                (self.served_dir / item.name).symlink_to(item.resolve())
        config = GenerationConfig.from_pretrained(model_dir)
        config.do_sample = True
        config.save_pretrained(self.served_dir)
        self.server = TransformersServe(self.served_dir, log=log_dir / "serve.log").start()
        self.backend = OpenAIBackend(self.server.url, self.server.served_name, timeout_s=600)

    def __call__(
        self, loaded, prompts, *, k, temperature, top_p, max_new_tokens, seed, batch_size
    ) -> tuple[int, int, float]:
        started = time.perf_counter()
        results = self.backend.best_of_k_generate(
            prompts,
            k=k,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=seed,
            batch_size=batch_size,
        )
        seconds = time.perf_counter() - started
        return sum(len(r) for r in results), sum(s.completion_tokens for r in results for s in r), seconds

    def close(self) -> None:
        self.server.stop()
