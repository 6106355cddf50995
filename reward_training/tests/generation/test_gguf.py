"""GGUF → Hugging Face conversion, on the real built-in SmolLM2-135M-Instruct and on files made to be refused."""

import json
import time

import numpy as np
import pytest
from gguf import GGUFWriter

from reward_training.generation import SampleSettings, best_of_k_generate, model_load, samples_generate
from reward_training.generation.gguf import GGUFError, gguf_architecture, gguf_convert, smollm2_gguf_path
from reward_training.tests.generation.test_demo_chat import UNSEEN_PROMPTS, WORDS, words_of


def test_the_converted_smollm2_is_a_plain_hugging_face_chat_model(smollm2_dir):
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (smollm2_dir / "model.safetensors").stat().st_size > 400e6  # de-quantised to float32
    source = json.loads((smollm2_dir / "gguf_source.json").read_text())
    assert source["eos_token"] == "<|im_end|>" and source["chat_template"] and source["parameters"] > 130e6
    loaded = model_load(smollm2_dir, device="cpu")
    assert loaded.tokenizer.convert_ids_to_tokens(list(loaded.eos_token_ids)) == ["<|im_end|>"]
    # ChatML, with SmolLM's default system message when none is given
    text = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.startswith("<|im_start|>system\n") and text.endswith(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_smollm2_answers_fluently_and_stops_at_end_of_turn(smollm2_dir):
    loaded = model_load(smollm2_dir, device="cpu")
    # greedy: a fact it knows, and the reply ends with <|im_end|>
    [answer] = samples_generate(
        loaded,
        [{"role": "user", "content": "What is the capital of France?"}],
        [SampleSettings(temperature=0, max_new_tokens=32)],
    )
    assert "Paris" in answer.text and answer.finished_with_eos
    # sampled: replies to prompts it never saw are English words
    english = set(WORDS.read_text().split())
    replies = best_of_k_generate(
        loaded,
        [[{"role": "user", "content": p}] for p in UNSEEN_PROMPTS[:8]],
        k=1,
        temperature=0.7,
        top_p=0.9,
        max_new_tokens=32,
        seed=0,
        batch_size=8,
    )
    words = [w for r in replies for w in words_of(r[0].text)]
    assert len(words) > 8 * 10
    assert sum(w in english for w in words) / len(words) > 0.9


def test_converting_again_is_a_no_op(smollm2_dir):
    started = time.perf_counter()
    again = gguf_convert(smollm2_gguf_path(), smollm2_dir)
    assert again["converted"] is False and time.perf_counter() - started < 5


def _gguf_file(path, architecture: str):
    writer = GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_bad_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(GGUFError, match="no such file"):
        gguf_convert(tmp_path / "missing.gguf", tmp_path / "out")
    (tmp_path / "text.gguf").write_text("not a model")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        gguf_convert(tmp_path / "text.gguf", tmp_path / "out")
    odd = _gguf_file(tmp_path / "odd.gguf", "not-an-architecture")
    with pytest.raises(GGUFError, match="architecture 'not-an-architecture' is not one transformers can load"):
        gguf_convert(odd, tmp_path / "out")
    assert gguf_architecture(_gguf_file(tmp_path / "llama.gguf", "llama")) == "llama"
    assert not (tmp_path / "out").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(GGUFError, match="is not a GGUF conversion; refusing to replace it"):
        gguf_convert(smollm2_gguf_path(), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
