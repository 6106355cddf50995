import torch
from safetensors.torch import load_file

from reward_training.generation import model_load
from reward_training.testing import tiny_chat_model_save


def test_model_load_on_cpu_is_float32_eval_with_context_and_eos(tiny_model_dir):
    loaded = model_load(tiny_model_dir, device="cpu")
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert not loaded.model.training
    assert loaded.max_length == 256
    assert loaded.eos_token_ids == (loaded.tokenizer.eos_token_id,)
    assert loaded.pad_token_id == loaded.tokenizer.pad_token_id != loaded.tokenizer.eos_token_id


def test_tiny_model_is_deterministic_by_seed(tmp_path):
    a = load_file(tiny_chat_model_save(tmp_path / "a", seed=3) / "model.safetensors")
    b = load_file(tiny_chat_model_save(tmp_path / "b", seed=3) / "model.safetensors")
    c = load_file(tiny_chat_model_save(tmp_path / "c", seed=4) / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()
