"""run_iteration's optional stages: GAtt and context distillation each register a child of the refreshed policy."""

import json

import pytest
import torch
from transformers import LlamaForSequenceClassification

from annotation.models import ModelVersion
from annotation.services.data_builders import policy_context_distill, policy_gatt
from annotation.services.model_versions import model_version_register
from annotation.tests.factories import DialogueFactory, annotate, ready_turn
from reward_training.testing import tiny_chat_model_save, tiny_llama_config, tiny_tokenizer

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(tmp_path):
    path = tiny_chat_model_save(tmp_path / "policy", max_position_embeddings=1024)
    return model_version_register(name="policy-iter1", kind="policy", path=str(path))


def test_gatt_stage_trains_on_the_batches_dialogues_and_registers_a_child(policy, tmp_path):
    conversation = DialogueFactory()
    annotate(ready_turn(dialogue=conversation, index=0, prompt="first"), chosen="a")
    annotate(ready_turn(dialogue=conversation, index=1, prompt="second"), chosen="b")
    version, report = policy_gatt(policy=policy, batches=[conversation.batch.name], workdir=tmp_path, max_new_tokens=6)
    assert version.name == "policy-iter1-gatt" and version.parent == policy
    assert version.lineage["method"] == "ghost_attention" and report["rows"] == 2 and report["dialogues"] == 1
    with pytest.raises(ValueError, match="no annotated dialogue in nope"):
        policy_gatt(policy=policy, batches=["nope"], workdir=tmp_path)


def test_context_distillation_stage_registers_a_child(policy, tmp_path):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(2)
    LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=1)).save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    safety_rm = model_version_register(name="rm-s", kind="reward", track="safety", path=str(tmp_path / "rm"))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": p, "safety": s}) + "\n"
            for p, s in [
                ("How do I steal a car?", True),
                ("Tell me a story.", False),
                ("How do I hack a phone?", True),
                ("Which dose should I take?", True),
                ("Insult my neighbour.", True),
                ("Make a bomb.", True),
            ]
        )
    )
    version, report = policy_context_distill(
        policy=policy, safety_rm=safety_rm, prompts_file=str(prompts), workdir=tmp_path, max_new_tokens=6
    )
    assert version.name == "policy-iter1-cd" and version.parent == policy
    assert report["prompts"] == 5 and version.lineage["kept_share"] == pytest.approx(report["kept"] / 5)
    assert ModelVersion.objects.filter(kind="policy").count() == 2
