"""The sections of the GPU benchmark (bench/gpu/gpu_bench.py, whose docstring says what each measures):
the random Llama shapes and the work sizes (the GPU run's, or --tiny's), building the models, the prompts
and synthetic pairs, peak memory, and the sampling, reward-training and PPO measurements themselves.
Imported by gpu_bench.py once it has put the repository on sys.path."""

from __future__ import annotations

import gc
import math
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

from bench.sampling_paths import ours_run, strong_run
from reward_training.data.preferences import PreferencePair
from reward_training.data.prompts import PromptItem
from reward_training.generation import prompt_encode
from reward_training.generation.loading import LoadedModel, context_length, eos_ids
from reward_training.testing import TINY_TEXT

VOCAB = 32_000
SHAPES = {  # LlamaConfig fields
    "1b": dict(
        hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4
    ),
    "7b": dict(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32
    ),
}
TINY_SHAPES = {
    "1b": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "7b": dict(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4
    ),
}
RM_7B_LAYERS = 4  # layers of the 7b shape the reward trainer is measured on (see the module doc)
SENTENCES = [line for line in TINY_TEXT.splitlines() if line.strip()][:12]


@dataclass
class Sizes:
    """How much work each section does: the GPU run's, or --tiny's."""

    prompts: int = 8  # sampling: prompts x k rows decode together (batch 64)
    k: int = 8
    max_new_tokens: int = 128
    runs: int = 3
    rm_pairs: int = 256
    rm_batch: int = 32
    rm_micro: int = 8
    rm_max_length: int = 1024
    ppo_prompts: int = 64
    ppo_minibatch: int = 32
    ppo_micro: int = 8
    ppo_new_tokens: int = 128
    reserves: tuple[int, ...] = (60, 120, 240, 90, 60)  # seconds a section needs at most, in SECTIONS' order


TINY = Sizes(
    prompts=4,
    k=4,
    max_new_tokens=8,
    runs=1,
    rm_pairs=16,
    rm_batch=8,
    rm_micro=4,
    rm_max_length=128,
    ppo_prompts=8,
    ppo_minibatch=4,
    ppo_micro=4,
    ppo_new_tokens=8,
    reserves=(0, 0, 0, 0, 0),
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def memory_reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def memory_peak_mb(device: torch.device) -> float:
    """CUDA: the most memory allocated since memory_reset. CPU: the process's peak resident set (never resets)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def accelerate_fresh() -> None:
    """Forget accelerate's process-wide state, so the next trainer's Accelerator may choose another mixed
    precision (the reward trainer runs fp32 on a CPU, PPO here bf16): what accelerate's own tests do."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def causal_lm_build(shape: dict, tokenizer, device: torch.device, dtype: torch.dtype, *, seed: int = 0, **overrides):
    """A random Llama causal LM of this shape, built directly on `device` in `dtype` (no weights loaded)."""
    config = LlamaConfig(
        vocab_size=VOCAB,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **{**shape, **overrides},
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    return model.eval()


def loaded_wrap(model, tokenizer, device: torch.device) -> LoadedModel:
    """What model_load would return for this in-memory model."""
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=next(model.parameters()).dtype,
        max_length=context_length(model, tokenizer),
        eos_token_ids=eos_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )


def text_of(n_sentences: int, offset: int) -> str:
    return " ".join(SENTENCES[(offset + i) % len(SENTENCES)] for i in range(n_sentences))


def sampling_prompts(n: int, tiny: bool) -> list[list[dict]]:
    """n one-turn prompts of increasing length (about 40 to 600 tokens; tiny: 10 to 60)."""
    longest = 4 if tiny else 48
    return [[{"role": "user", "content": text_of(1 + (longest - 1) * i // max(1, n - 1), i)}] for i in range(n)]


def section_sampling(shape_name: str, args, sizes: Sizes, device, dtype, tokenizer, keep_dir: Path | None) -> dict:
    shape = (TINY_SHAPES if args.tiny else SHAPES)[shape_name]
    built = time.perf_counter()
    model = causal_lm_build(shape, tokenizer, device, dtype)
    build_seconds = time.perf_counter() - built
    if keep_dir is not None:  # the reward-training and PPO sections load this model from disk
        model.save_pretrained(keep_dir)
        tokenizer.save_pretrained(keep_dir)
    loaded = loaded_wrap(model, tokenizer, device)
    prompts = sampling_prompts(sizes.prompts, args.tiny)
    settings = dict(
        k=sizes.k, temperature=1.0, top_p=0.9, max_new_tokens=sizes.max_new_tokens, seed=0, batch_size=sizes.prompts
    )
    paths = {"ours": ours_run, "strong": strong_run}
    for run in paths.values():  # warm-up: kernels, allocator, cuBLAS handles
        run(loaded, prompts[:2], **{**settings, "max_new_tokens": 4, "batch_size": 2})
    memory_reset(device)
    runs: dict[str, list[tuple[int, int, float]]] = {name: [] for name in paths}
    for r in range(sizes.runs):
        for name, run in paths.items():
            runs[name].append(run(loaded, prompts, **settings))
            s, t, sec = runs[name][-1]
            log(f"sampling {shape_name} run {r + 1} {name:6s} {sec:7.2f} s {t / sec:9.1f} tokens/s")
    result: dict = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "shape": shape,
        "dtype": str(dtype),
        "build_seconds": build_seconds,
        "rows": sizes.prompts * sizes.k,
        "prompt_tokens": [len(prompt_encode(loaded, p, sizes.max_new_tokens)) for p in prompts],
        **settings,
        "runs": sizes.runs,
        "peak_memory_mb": memory_peak_mb(device),
    }
    for name, results in runs.items():
        result[name] = {
            "tokens_per_s": statistics.median(t / sec for _, t, sec in results),
            "samples_per_s": statistics.median(s / sec for s, _, sec in results),
            "seconds_median": statistics.median(sec for _, _, sec in results),
            "completion_tokens_median": statistics.median(t for _, t, _ in results),
        }
    result["ours_over_strong"] = result["ours"]["tokens_per_s"] / result["strong"]["tokens_per_s"]
    del loaded, model
    memory_reset(device)
    return result


def rm_pairs(n: int, tiny: bool, seed: int = 0) -> list[PreferencePair]:
    """Synthetic preference pairs with long shared histories and replies of varied length."""
    rng = random.Random(seed)
    (h_min, h_max), reply_max = ((1, 3), 2) if tiny else ((3, 58), 16)  # sentences of 10 to 15 tokens
    pairs = []
    for i in range(n):
        h, c, r = rng.randint(h_min, h_max), rng.randint(1, reply_max), rng.randint(1, reply_max)
        pairs.append(
            PreferencePair(
                prompt=({"role": "user", "content": text_of(h, i)},),
                chosen=text_of(c, i + 3),
                rejected=f"No. {text_of(r, i + 7)}",
                pair_id=f"bench-{i}",
            )
        )
    return pairs


def reward_run(base: Path, pairs, sizes: Sizes, device, scratch: Path, **switches) -> dict:
    from reward_training.config import config_build
    from reward_training.reward.reward_config import RewardConfig
    from reward_training.reward.reward_trainer import reward_train

    output = Path(tempfile.mkdtemp(dir=scratch, prefix="rm-"))
    config = config_build(
        RewardConfig,
        base_model=str(base),
        output_dir=str(output),
        batch_size=min(sizes.rm_batch, len(pairs)),
        micro_batch_size=min(sizes.rm_micro, len(pairs)),
        max_length=sizes.rm_max_length,
        save_every_steps=0,
        resume=False,
        chat_format="auto",
        tracker="none",
        **switches,  # a bare card has no tensorboard
    )
    memory_reset(device)
    accelerate_fresh()
    try:
        result = reward_train(config, pairs, progress=False)
    finally:
        shutil.rmtree(output, ignore_errors=True)
    return {
        **switches,
        "pairs_per_s": result["pairs_per_second"],
        "peak_memory_mb": memory_peak_mb(device),
        "train_seconds": result["train_seconds"],
        "steps": result["steps"],
        "pairs": result["n_train_pairs"],
        "train_loss": result["train_loss"],
    }


def section_reward(base: Path, combos: list[dict], args, sizes: Sizes, device, scratch: Path, label: str) -> dict:
    pairs = rm_pairs(sizes.rm_pairs, args.tiny)
    if device.type == "cuda":  # warm-up on a few pairs: the first steps on a card pay for its initialisation
        reward_run(base, pairs[: sizes.rm_batch], sizes, device, scratch)
    runs = []
    for switches in combos:
        runs.append(reward_run(base, pairs, sizes, device, scratch, **switches))
        log(
            f"reward {label} {switches}: {runs[-1]['pairs_per_s']:.2f} pairs/s, "
            f"peak {runs[-1]['peak_memory_mb']:.0f} MB"
        )
    memory_reset(device)
    return {
        "model": label,
        "precision": "bf16 mixed" if device.type == "cuda" else "fp32",
        "max_length": sizes.rm_max_length,
        "batch_size": sizes.rm_batch,
        "micro_batch_size": sizes.rm_micro,
        "runs": runs,
    }


def section_ppo(policy_dir: Path, args, sizes: Sizes, device, scratch: Path) -> dict:
    from reward_training.policy.ppo import PPOConfig, ppo_train
    from reward_training.policy.ppo.ppo_config import LOGPROB_TOLERANCE

    def length_rc(prompts, texts, ids):  # Rc in (0, 1) from the response length: any signal will do here
        return torch.tensor([1 / (1 + math.exp(-(len(r) - sizes.ppo_new_tokens / 2) / 16)) for r in ids])

    prompts = [PromptItem(messages=m) for m in sampling_prompts(sizes.ppo_prompts, args.tiny)]
    config = PPOConfig(
        iterations=1,
        batch_size=sizes.ppo_prompts,
        minibatch_size=sizes.ppo_minibatch,
        micro_batch_size=sizes.ppo_micro,
        max_new_tokens=sizes.ppo_new_tokens,
        generation_batch_size=sizes.ppo_prompts,
        precision="bf16",
        logprob_tolerance=1e9,
        eval_every=1,
        early_stopping_patience=0,
        progress=False,
        device="cpu" if device.type == "cpu" else None,
        tracker="none",  # a bare card has no tensorboard
    )
    output = Path(tempfile.mkdtemp(dir=scratch, prefix="ppo-"))
    memory_reset(device)
    accelerate_fresh()
    try:
        summary = ppo_train(config, policy_dir=policy_dir, prompts=prompts, output_dir=output, reward_fn=length_rc)
    finally:
        shutil.rmtree(output, ignore_errors=True)
    first = summary["history"][0]
    memory = memory_peak_mb(device)
    log(
        f"ppo: iteration {first['seconds']:.2f} s, log-prob max diff {first['logprob_max_diff']:.3g}, "
        f"peak {memory:.0f} MB"
    )
    return {
        "precision": "bf16",
        "rollouts": sizes.ppo_prompts,
        "max_new_tokens": sizes.ppo_new_tokens,
        "minibatch_size": sizes.ppo_minibatch,
        "micro_batch_size": sizes.ppo_micro,
        "iteration_seconds": first["seconds"],
        "seconds_with_load_and_save": summary["seconds"],
        "response_length": first["response_length"],
        "gradient_steps": first["gradient_steps"],
        "logprob_max_diff": first["logprob_max_diff"],
        "logprob_fp32_tolerance": LOGPROB_TOLERANCE["fp32"],
        "logprob_bf16_tolerance": LOGPROB_TOLERANCE["bf16"],
        "within_fp32_tolerance": first["logprob_max_diff"] <= LOGPROB_TOLERANCE["fp32"],
        "within_bf16_tolerance": first["logprob_max_diff"] <= LOGPROB_TOLERANCE["bf16"],
        "peak_memory_mb": memory,
    }
