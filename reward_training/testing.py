"""Tiny random models for tests, built offline in well under a second.

    from reward_training.testing import tiny_chat_model_save
    path = tiny_chat_model_save(tmp_path / "policy")        # a Hugging Face model directory

The model is a 2-layer Llama (hidden size 64) with its own byte-level BPE tokenizer (bos, eos, pad
and a chat template; see reward_training.demo.tokenizer). Its weights are random, so its text is
gibberish; the same seed gives the same weights and tokenizer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from reward_training.demo.tokenizer import chat_tokenizer_train

# A few KB of plain English to train the tiny tokenizer on.
_SENTENCES = [
    "Hello, how are you today?",
    "I am fine, thank you. How can I help you?",
    "What is the capital of France? The capital of France is Paris.",
    "Can you tell me a story about a dog and a cat?",
    "Once upon a time there was a small dog who lived with a friendly cat.",
    "Please write a short poem about the sea and the wind.",
    "The weather is nice and sunny, so let us go for a walk in the park.",
    "I do not know the answer to that question, but I can try to find out.",
    "Numbers like 1, 2, 3, 42 and 2024 are also text.",
    "Why is the sky blue? Sunlight is scattered by the air, and blue light scatters the most.",
    "Thank you for your help! You are welcome.",
    "I'm sorry, I can't help with that request.",
]
TINY_TEXT = "\n".join(_SENTENCES * 8)


def tiny_tokenizer(*, vocab_size: int = 384, with_chat_template: bool = True) -> PreTrainedTokenizerFast:
    """A tiny chat tokenizer trained on TINY_TEXT (deterministic)."""
    return chat_tokenizer_train([TINY_TEXT], vocab_size=vocab_size, with_chat_template=with_chat_template)


def tiny_llama_config(tokenizer: PreTrainedTokenizerFast, **overrides) -> LlamaConfig:
    """A 2-layer, 64-wide Llama config matching `tokenizer`; overrides replace any field."""
    fields = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    fields.update(overrides)
    return LlamaConfig(**fields)


def tiny_chat_model_save(
    path: str | Path, *, seed: int = 0, with_chat_template: bool = True, **config_overrides
) -> Path:
    """Build a tiny random Llama chat model and its tokenizer, save both into `path`, return it.

    `with_chat_template=False` leaves the tokenizer without a chat template, so rendering falls
    back to the Llama 2 [INST] format. `config_overrides` go to LlamaConfig
    (e.g. max_position_embeddings=64 to test truncation).
    """
    path = Path(path)
    tokenizer = tiny_tokenizer(with_chat_template=with_chat_template)
    config = tiny_llama_config(tokenizer, **config_overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_chat_model_pad_shared_save(path: str | Path, *, seed: int = 0, pad: str | None = "eos") -> Path:
    """tiny_chat_model_save, with the tokenizer's pad shared as many public checkpoints ship it.

    pad="eos": the pad is the eos token (SmolLM2, Llama 3 fine-tunes); pad=None: there is no pad
    token (Llama 2). The config's pad_token_id follows.
    """
    from transformers import AutoConfig, AutoTokenizer

    path = tiny_chat_model_save(path, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if pad == "eos":
        tokenizer.pad_token = tokenizer.eos_token
    elif pad is None:
        tokenizer.pad_token = None
    else:
        raise ValueError(f"pad must be 'eos' or None, not {pad!r}")
    tokenizer.save_pretrained(path)
    config = AutoConfig.from_pretrained(path)
    config.pad_token_id = tokenizer.pad_token_id
    config.save_pretrained(path)
    return path


def tiny_reward_model_save(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random Llama reward model (one score head) on the tiny tokenizer, saved into `path`, returned.

    The seed goes to torch.manual_seed (the global generator), as the tests that share this always did.
    """
    from transformers import LlamaForSequenceClassification

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=1)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


TOPICS = ["weather", "music", "cooking", "travel", "garden", "sport", "books", "films", "cars", "money"]
FILLER = ["the", "answer", "is", "that", "we", "can", "see", "it", "here", "now"]


def synthetic_write(path: str | Path, n: int, *, seed: int) -> Path:
    """n export-format pairs of a separable task: the chosen reply holds "good" somewhere inside,
    the rejected one "bad" at the same place."""
    rng = random.Random(seed)
    strengths = ["significantly_better", "better", "slightly_better", "negligibly_better"]
    lines = []
    for i in range(n):
        words = rng.sample(FILLER, 5)
        at = rng.randrange(len(words))
        good, bad = list(words), list(words)
        good.insert(at, "good")
        bad.insert(at, "bad")
        row = {
            "prompt": [{"role": "user", "content": f"tell me about {rng.choice(TOPICS)} {rng.choice(TOPICS)}"}],
            "chosen": [{"role": "assistant", "content": " ".join(good)}],
            "rejected": [{"role": "assistant", "content": " ".join(bad)}],
            "strength": strengths[i % 4],
            "margin": 0,
            "track": "helpfulness",
            "safety_bin": None,
            "source": "platform",
            "comparison_id": i,
        }
        lines.append(json.dumps(row))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


# accelerate's FSDP2 (torch's fully_shard) runs on CPU processes over gloo. Its FSDP1, the default of
# `--use_fsdp`, refuses CPU: "There are currently no available devices found, must be one of 'XPU', 'CUDA',
# 'MLU', 'NPU', 'MUSA', or 'HPU'."
FSDP2_LAUNCH = ("--use_fsdp", "--fsdp_version", "2", "--fsdp_state_dict_type", "FULL_STATE_DICT")


def accelerate_launch_cpu(*args: str, processes: int = 2, fsdp: bool = False, timeout: float = 300) -> dict:
    """Run `accelerate launch` with `processes` CPU processes (gloo) on `args` (a script and its arguments,
    or "-m", a module and its arguments), from the repository root, under DDP or (`fsdp`) FSDP2; assert it
    exits 0 and return the JSON of its last stdout line."""
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *(FSDP2_LAUNCH if fsdp else ("--multi_gpu",)),
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        "1",
        *args,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    child = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo, timeout=timeout)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def tiny_reward_config(base: str | Path, output_dir: str | Path, **changes):
    """A RewardConfig that trains a tiny reward model on `base` in seconds (8 pairs a step, 4 a micro-batch,
    one epoch, 64 tokens, lr 3e-3, the HH chat format, no checkpoints); `changes` replace any field."""
    from reward_training.config import config_build
    from reward_training.reward.reward_config import RewardConfig

    settings = dict(
        base_model=base,
        output_dir=str(output_dir),
        batch_size=8,
        micro_batch_size=4,
        epochs=1,
        max_length=64,
        learning_rate=3e-3,
        chat_format="hh",
        save_every_steps=0,
    )
    return config_build(RewardConfig, **{**settings, **changes})
