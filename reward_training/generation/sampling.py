"""Batched sampling with per-row settings: one prompt's variants, or best-of-K over many prompts.

Both entry points run the same loop: prefill the (left-padded) prompts once, expand the KV cache
to one row per sample, then decode all rows together, each with its own temperature, top-p,
token budget and seed, each stopping on EOS. A row's randomness comes only from its own seed
(a per-row torch.Generator draws its uniforms up front), so a seed reproduces a sample whatever
else shares the batch.

`samples_generate` can report the texts so far while it decodes (`on_progress`), for a caller that
streams them to a user: at the first token, then at most every PROGRESS_EVERY_S seconds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from reward_training.data.chat import Message
from reward_training.generation.loading import LoadedModel
from reward_training.generation.prompt import prompt_encode

# `on_progress` receives every row's text so far, in the order of the settings.
ProgressCallback = Callable[[list[str]], None]
PROGRESS_EVERY_S = 0.25  # the least wall time between two progress reports after the first


@dataclass
class SampleSettings:
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0  # nucleus sampling: keep the smallest set of tokens whose probability reaches top_p
    max_new_tokens: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must lie in (0, 1]")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    """One generated reply and how it was made (named apart from annotation.models.Sample, the stored reply)."""

    text: str
    settings: SampleSettings
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the EOS token included when there was one
    seconds: float  # wall time from the start of the batched call until this row finished
    finished_with_eos: bool  # False: the row hit max_new_tokens
    token_ids: list[int] = field(default_factory=list, repr=False)  # the completion's ids (local backend only)
    backend: str = "local"  # the generation backend that made it (see backends.py)
    tokens_exact: bool = True  # False: completion_tokens is a share of a server's total (see backends.py)


def next_tokens(
    logits: torch.Tensor,  # (B, V)
    temperature: torch.Tensor,  # (B,)
    top_p: torch.Tensor,  # (B,)
    uniform: torch.Tensor,  # (B,) in [0, 1)
) -> torch.Tensor:  # (B,) token ids
    """Per-row temperature and nucleus (top-p) sampling by inverse CDF on the given uniforms.

    A row with temperature 0 takes the argmax. Top-p keeps the most probable tokens up to and
    including the first at which the cumulative probability reaches top_p (Holtzman et al. 2019).
    """
    logits = logits.float()
    greedy = logits.argmax(dim=-1)  # (B,)
    scaled = logits / temperature.clamp(min=1e-5).unsqueeze(-1)  # (B, V)
    sorted_logits, order = scaled.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(dim=-1)  # (B, V)
    before = probs.cumsum(dim=-1) - probs  # (B, V) probability mass ahead of each token
    probs = probs.masked_fill(before >= top_p.unsqueeze(-1), 0.0)  # the first token always stays
    cdf = probs.cumsum(dim=-1)  # (B, V)
    target = (uniform * cdf[:, -1]).unsqueeze(-1)  # (B, 1)
    index = torch.searchsorted(cdf, target, right=True).clamp(max=probs.shape[-1] - 1)  # (B, 1)
    # Never land on a zeroed token (possible only through rounding at the top end).
    index = torch.minimum(index, (probs > 0).sum(dim=-1, keepdim=True) - 1)
    sampled = order.gather(-1, index).squeeze(-1)  # (B,)
    return torch.where(temperature > 0, sampled, greedy)


def row_uniforms(settings: list[SampleSettings], steps: int) -> torch.Tensor:  # (B, steps)
    """Each row's uniforms for every decoding step, drawn from its own seeded CPU generator."""
    rows = []
    for s in settings:
        generator = torch.Generator().manual_seed(s.seed)
        rows.append(torch.rand(steps, generator=generator, dtype=torch.float64).float())
    return torch.stack(rows)


@dataclass
class _Prefill:
    logits: torch.Tensor  # (N, V) next-token logits after each prompt
    cache: Any  # the KV cache, N rows
    attention_mask: torch.Tensor  # (N, L) 0 on left padding
    next_position: torch.Tensor  # (N,) position id of the next token


def _prefill(loaded: LoadedModel, prompts: list[list[int]]) -> _Prefill:
    """One forward pass over the left-padded prompts."""
    length = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), length), loaded.pad_token_id, dtype=torch.long)  # (N, L)
    attention_mask = torch.zeros((len(prompts), length), dtype=torch.long)  # (N, L)
    for i, ids in enumerate(prompts):
        input_ids[i, length - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, length - len(ids) :] = 1
    input_ids, attention_mask = input_ids.to(loaded.device), attention_mask.to(loaded.device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (N, L)
    out = loaded.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=True,
        logits_to_keep=1,
    )
    return _Prefill(
        logits=out.logits[:, -1, :],
        cache=out.cache,
        attention_mask=attention_mask,
        next_position=attention_mask.sum(-1),
    )


def _cache_cast(cache: Any, dtype: torch.dtype) -> None:
    """Cast a KV cache's keys and values in place (each layer's (N, H, L, D) tensors)."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys.to(dtype), layer.values.to(dtype)


def _expand(prefill: _Prefill, repeats: list[int]) -> _Prefill:
    """Row i of the prefill becomes repeats[i] rows (the KV cache is copied, not recomputed)."""
    if all(r == 1 for r in repeats):
        return prefill
    index = torch.repeat_interleave(
        torch.arange(len(repeats), device=prefill.logits.device),
        torch.tensor(repeats, device=prefill.logits.device),
    )
    prefill.cache.batch_select_indices(index)
    return _Prefill(
        logits=prefill.logits[index],
        cache=prefill.cache,
        attention_mask=prefill.attention_mask[index],
        next_position=prefill.next_position[index],
    )


@dataclass
class _Row:
    tokens: list[int] = field(default_factory=list)
    eos: bool = False
    seconds: float = 0.0


def _text(loaded: LoadedModel, tokens: list[int]) -> str:
    """A completion's text: its tokens decoded without EOS or other special tokens, stripped."""
    eos = set(loaded.eos_token_ids)
    return loaded.tokenizer.decode([t for t in tokens if t not in eos], skip_special_tokens=True).strip()


class _Progress:
    """Hands the rows' texts so far to `on_progress`: after the first token, then at most every `every_s`."""

    def __init__(self, loaded: LoadedModel, on_progress: ProgressCallback, every_s: float | None = None):
        self.loaded, self.on_progress = loaded, on_progress
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.reported_at: float | None = None

    def step(self, rows: list[_Row]) -> None:
        now = time.perf_counter()
        if self.reported_at is not None and now - self.reported_at < self.every_s:
            return
        self.reported_at = now
        self.on_progress([_text(self.loaded, row.tokens) for row in rows])


def _decode(
    loaded: LoadedModel,
    state: _Prefill,
    settings: list[SampleSettings],
    started: float,
    progress: _Progress | None = None,
    model: Any = None,
) -> list[_Row]:
    """Decode every row of `state` (one row per settings entry) until EOS or its token budget.

    `progress`, if given, sees the rows after each step (it decides itself when to report). `model`
    decodes (default: loaded.model); its dtype must match the cache's."""
    model = loaded.model if model is None else model
    device = loaded.device
    steps = max(s.max_new_tokens for s in settings)
    temperature = torch.tensor([s.temperature for s in settings], device=device)  # (B,)
    top_p = torch.tensor([s.top_p for s in settings], device=device)  # (B,)
    budget = torch.tensor([s.max_new_tokens for s in settings], device=device)  # (B,)
    uniforms = row_uniforms(settings, steps).to(device)  # (B, steps)
    eos = torch.tensor(loaded.eos_token_ids, device=device)

    rows = [_Row() for _ in settings]
    active = torch.arange(len(settings), device=device)  # (b,) global row of each batch row
    done = torch.zeros(len(settings), dtype=torch.bool, device=device)  # (b,) finished, not yet dropped
    logits, cache, mask, position = state.logits, state.cache, state.attention_mask, state.next_position
    for step in range(steps):
        token = next_tokens(logits, temperature[active], top_p[active], uniforms[active, step])  # (b,)
        is_eos = torch.isin(token, eos)  # (b,)
        finished = is_eos | (budget[active] <= step + 1)  # (b,)
        now = time.perf_counter() - started
        for row, tok, hit_eos, fin, was_done in zip(
            active.tolist(), token.tolist(), is_eos.tolist(), finished.tolist(), done.tolist()
        ):
            if was_done:
                continue
            rows[row].tokens.append(tok)
            if fin:
                rows[row].eos, rows[row].seconds = hit_eos, now
        done = done | finished
        if bool(done.all()):
            break
        if progress is not None:
            progress.step(rows)
        # Drop finished rows from the batch once they are an eighth of it (a copy of the cache).
        if int(done.sum()) >= max(1, len(active) // 8):
            keep = (~done).nonzero().squeeze(-1)  # (b',)
            cache.batch_select_indices(keep)
            active, token, mask, position = active[keep], token[keep], mask[keep], position[keep]
            done = done[keep]
        token = token.masked_fill(done, loaded.pad_token_id)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)  # (b, L + step + 1)
        out = model(
            input_ids=token.unsqueeze(-1),
            attention_mask=mask,
            position_ids=position.unsqueeze(-1),
            cache=cache,
            use_cache=True,
        )
        logits, cache, position = out.logits[:, -1, :], out.cache, position + 1
    return rows


def _samples(
    loaded: LoadedModel, rows: list[_Row], settings: list[SampleSettings], prompt_lengths: list[int]
) -> list[Completion]:
    samples = []
    for row, s, n_prompt in zip(rows, settings, prompt_lengths):
        samples.append(
            Completion(
                text=_text(loaded, row.tokens),
                settings=s,
                prompt_tokens=n_prompt,
                completion_tokens=len(row.tokens),
                seconds=row.seconds,
                finished_with_eos=row.eos,
                token_ids=row.tokens,
            )
        )
    return samples


@torch.inference_mode()
def samples_generate(
    loaded: LoadedModel,
    messages: list[Message],
    settings: list[SampleSettings],
    *,
    on_progress: ProgressCallback | None = None,
) -> list[Completion]:
    """One sample per settings entry for the same prompt, all in one batched decoding loop.

    The prompt (system prompt + history + new user message, see prompt_encode) is encoded and
    prefilled once, with room for the largest max_new_tokens. `on_progress`, if given, is called
    with the texts so far (in the order of `settings`) after the first token and then at most every
    PROGRESS_EVERY_S seconds while rows are still decoding; the returned samples are final. A text so
    far is the decoding of the tokens so far, so its last characters can still change (a multi-byte
    character split over tokens). What the callback does has no effect on the samples.
    """
    if not settings:
        return []
    started = time.perf_counter()
    prompt = prompt_encode(loaded, messages, max(s.max_new_tokens for s in settings))
    state = _expand(_prefill(loaded, [prompt]), [len(settings)])
    progress = _Progress(loaded, on_progress) if on_progress is not None else None
    if loaded.decoder is not None:  # float32 prefill, then decode in the copy's dtype (see loading.py)
        _cache_cast(state.cache, loaded.decoder.dtype)
    rows = _decode(loaded, state, settings, started, progress, model=loaded.decoder)
    return _samples(loaded, rows, settings, [len(prompt)] * len(settings))


def best_of_k_seed(seed: int, prompt_index: int, k: int, j: int) -> int:
    """The seed of sample j of prompt `prompt_index` (its position in the caller's list)."""
    return seed + prompt_index * k + j


@torch.inference_mode()
def best_of_k_generate(
    loaded: LoadedModel,
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
    """K samples for each prompt, in the prompts' order; result[i][j] is sample j of prompts[i].

    Prompts are sorted by length (longest first) and taken `batch_size` at a time: each batch is
    left-padded and prefilled once, its KV cache expanded K times, and its batch_size * K rows
    decoded together. Sample j of prompt i uses seed best_of_k_seed(seed, i, k, j), recorded in
    its settings, so samples_generate(loaded, prompts[i], [sample.settings]) reproduces it.
    """
    if k < 1 or batch_size < 1:
        raise ValueError("k and batch_size must be >= 1")
    encoded = [prompt_encode(loaded, messages, max_new_tokens) for messages in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
    results: list[list[Completion]] = [[] for _ in prompts]
    with tqdm(total=len(prompts), unit="prompt", desc="best-of-K", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            started = time.perf_counter()
            settings = [
                SampleSettings(temperature, top_p, max_new_tokens, best_of_k_seed(seed, i, k, j))
                for i in chunk
                for j in range(k)
            ]
            state = _expand(_prefill(loaded, [encoded[i] for i in chunk]), [k] * len(chunk))
            rows = _decode(loaded, state, settings, started)
            lengths = [len(encoded[i]) for i in chunk for _ in range(k)]
            samples = _samples(loaded, rows, settings, lengths)
            for n, i in enumerate(chunk):
                results[i] = samples[n * k : (n + 1) * k]
            bar.update(len(chunk))
    return results
