import json

import pytest
import torch
from transformers import LlamaForSequenceClassification

from reward_training.data.prompts import PromptItem
from reward_training.policy.rejection_sampling import RejectionSamplingConfig, rejection_sample
from reward_training.policy.sft import SFTConfig
from reward_training.testing import tiny_chat_model_save, tiny_llama_config, tiny_tokenizer


def tiny_reward_model_save(path, seed):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=1))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rs")
    return {
        "policy": tiny_chat_model_save(root / "policy"),
        "helpfulness": tiny_reward_model_save(root / "rm-h", 1),
        "safety": tiny_reward_model_save(root / "rm-s", 2),
    }


def test_two_iterations_keep_the_best_and_grow_the_pool(models, tmp_path):
    prompts = [PromptItem([{"role": "user", "content": text}], safety=i == 0)
               for i, text in enumerate(["How do I hurt someone?", "Tell me a story.", "What is the sea?"])]
    config = RejectionSamplingConfig(k=3, temperature=1.0, max_new_tokens=8, progress=False,
                                     sft=SFTConfig(epochs=1, batch_size=2, micro_batch_size=2, max_length=64,
                                                   progress=False))
    pool = tmp_path / "pool"
    first = rejection_sample(config, policy_dir=models["policy"], helpfulness_rm_dir=models["helpfulness"],
                             safety_rm_dir=models["safety"], prompts=prompts, pool_dir=pool,
                             output_dir=tmp_path / "v1")
    assert first["iteration"] == 1 and first["pool_size"] == 3
    assert (tmp_path / "v1" / "config.json").is_file() and (tmp_path / "v1" / "reward_vs_k.png").is_file()
    curve = json.loads((tmp_path / "v1" / "reward_vs_k.json").read_text())
    assert curve["k"] == [1, 2, 3] and curve["max"][-1] >= curve["max"][0] >= curve["median"][-1] - 1e-9
    assert first["mean_best_reward"] == pytest.approx(curve["max"][-1])
    second = rejection_sample(config, policy_dir=tmp_path / "v1", helpfulness_rm_dir=models["helpfulness"],
                              safety_rm_dir=models["safety"], prompts=prompts, pool_dir=pool,
                              output_dir=tmp_path / "v2")
    assert second["iteration"] == 2 and second["pool_size"] == 6 and second["pool_iterations"] == [1, 2]
