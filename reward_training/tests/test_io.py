import json

import pytest
import torch

from reward_training.io import directory_write_atomic, jsonl_write_atomic
from reward_training.optim import param_groups


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_is_written_whole_and_replaces_the_earlier_file(tmp_path):
    path = tmp_path / "out" / "rows.jsonl"
    assert jsonl_write_atomic(path, [{"a": 1}, {"a": 2}]) == 2
    assert jsonl_write_atomic(path, ({"text": t} for t in ["héllo", "日本"])) == 2
    assert _rows(path) == [{"text": "héllo"}, {"text": "日本"}]
    assert "héllo" in path.read_text(encoding="utf-8")  # UTF-8 as is, not \u escapes
    assert [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]


def test_a_failed_jsonl_write_leaves_the_earlier_file_and_no_partial_one(tmp_path):
    path = tmp_path / "rows.jsonl"
    jsonl_write_atomic(path, [{"a": 1}])

    def broken():
        yield {"a": 2}
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        jsonl_write_atomic(path, broken())
    assert _rows(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_a_failed_directory_write_leaves_the_earlier_directory(tmp_path):
    out = tmp_path / "model"
    directory_write_atomic(out, lambda tmp: (tmp / "weights").write_text("v1"))

    def broken(tmp):
        (tmp / "weights").write_text("v2")
        raise OSError("disk full")

    with pytest.raises(OSError):
        directory_write_atomic(out, broken)
    assert (out / "weights").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_weight_decay_skips_biases_and_norm_weights_and_frozen_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2, bias=False))
    model[2].weight.requires_grad_(False)
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 3  # the Linear's bias, the LayerNorm's weight and bias
