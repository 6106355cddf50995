"""Reward models read the same way by our scorer and by plain Hugging Face loading (TRL, vLLM)."""

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, LlamaForSequenceClassification

from reward_training.config import config_build
from reward_training.data.hh import hh_render
from reward_training.reward.api import evaluate_reward_model, train_reward_model
from reward_training.reward.model import PAD_TOKEN, reward_model_load
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.scorer import RewardScorer
from reward_training.testing import tiny_chat_model_pad_shared_save, tiny_chat_model_save

PROMPTS = [[{"role": "user", "content": "tell me about the weather " * k}] for k in (1, 3, 2, 4, 1)]
MAX_LENGTH = 128  # room for every dialogue below: none is truncated
REPLIES = ["it is", "the answer is that we can see it here now", "good", "now", "we can see the sea and the wind"]


@torch.no_grad()
def _hf_rewards(directory, dialogues, *, padding_side):
    """What a TRL or vLLM user gets: the directory loaded as it is, its chat template, one padded batch."""
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    texts = [tokenizer.apply_chat_template(d, tokenize=False) for d in dialogues]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, padding_side=padding_side, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()  # texts of different lengths: the batch is padded
    assert batch["input_ids"].shape[1] <= MAX_LENGTH  # none is truncated by the scorer
    return model(**batch).logits[:, 0]


def _dialogues(prompts, replies):
    return [[*p, {"role": "assistant", "content": r}] for p, r in zip(prompts, replies)]


def test_a_decoder_reward_model_trained_here_scores_the_same_under_plain_hugging_face_loading(tmp_path, synthetic):
    # Given a base whose tokenizer pads with eos (as SmolLM2's does), a trained reward model
    base = tiny_chat_model_pad_shared_save(tmp_path / "base", pad="eos")
    train, held_out = synthetic(tmp_path / "train.jsonl", 96, seed=1), synthetic(tmp_path / "eval.jsonl", 64, seed=2)
    config = config_build(
        RewardConfig,
        base_model=str(base),
        output_dir=str(tmp_path / "rm"),
        epochs=3,
        batch_size=16,
        micro_batch_size=8,
        max_length=64,
        learning_rate=3e-3,
        save_every_steps=0,
    )
    out = train_reward_model(config, [str(train)], "trl", eval_file=str(held_out), progress=False)["output_dir"]
    # When our scorer and plain AutoModelForSequenceClassification score the same dialogues (each ends on eos)
    ours = RewardScorer(out, batch_size=2, max_length=MAX_LENGTH).score(PROMPTS, REPLIES)
    assert ours.std() > 1e-2  # a trained model: reading one token early would show
    # Then they agree, right- and left-padded
    for side in ("right", "left"):
        torch.testing.assert_close(
            _hf_rewards(out, _dialogues(PROMPTS, REPLIES), padding_side=side), ours, atol=1e-4, rtol=0
        )
    # (because the reward model has a pad token of its own, which its config names)
    saved = AutoTokenizer.from_pretrained(out)
    assert saved.pad_token == PAD_TOKEN and saved.pad_token_id != saved.eos_token_id
    assert json.loads((tmp_path / "rm" / "config.json").read_text())["pad_token_id"] == saved.pad_token_id

    # And the accuracy a TRL user measures on the held-out pairs is the one evaluate_reward_model reports
    rows = [json.loads(line) for line in held_out.read_text().splitlines()]
    chosen = _hf_rewards(out, [r["prompt"] + r["chosen"] for r in rows], padding_side="left")
    rejected = _hf_rewards(out, [r["prompt"] + r["rejected"] for r in rows], padding_side="left")
    report = evaluate_reward_model(out, str(held_out), "trl", write_report=False)
    assert report["n"] == len(rows) and report["accuracy"] > 0.9
    assert (chosen > rejected).float().mean().item() == pytest.approx(report["accuracy"])


@pytest.mark.parametrize("pad", ["eos", None, "own"])
def test_a_decoder_to_train_gets_a_pad_token_of_its_own_only_where_its_pad_is_shared_or_missing(tmp_path, pad):
    base = (
        tiny_chat_model_save(tmp_path / "base")
        if pad == "own"
        else tiny_chat_model_pad_shared_save(tmp_path / "base", pad=pad)
    )
    before = AutoTokenizer.from_pretrained(base)
    model, tokenizer = reward_model_load(base, seed=0, own_pad=True)
    rows = model.hf.get_input_embeddings().num_embeddings
    if pad == "own":  # the tiny chat tokenizer's <pad> is already a token of its own
        assert tokenizer.pad_token == before.pad_token == "<pad>" and len(tokenizer) == len(before) == rows
    else:  # eos (SmolLM2) or none (Llama 2): a new token, with a row of its own in the embeddings
        assert tokenizer.pad_token == PAD_TOKEN and tokenizer.pad_token_id == len(before) and rows == len(before) + 1
    assert model.hf.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_bert_dir"])
def test_a_left_padded_batch_gets_the_rewards_of_a_right_padded_one(request, fixture):
    model, _ = reward_model_load(request.getfixturevalue(fixture))
    model.eval()
    rows = [[101, 7, 8, 9, 10, 11, 102], [101, 12, 13, 102], [101, 14, 15, 16, 102]]
    width = max(len(r) for r in rows)
    right = torch.zeros((3, width), dtype=torch.long)  # (N, T), pad id 0
    left = torch.zeros((3, width), dtype=torch.long)  # (N, T)
    right_mask, left_mask = torch.zeros_like(right), torch.zeros_like(left)
    for i, r in enumerate(rows):
        right[i, : len(r)], right_mask[i, : len(r)] = torch.tensor(r), 1
        left[i, width - len(r) :], left_mask[i, width - len(r) :] = torch.tensor(r), 1
    with torch.no_grad():
        alone = torch.cat([model(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long)) for r in rows])  # (N, 1)
        torch.testing.assert_close(model(right, right_mask), alone, atol=1e-5, rtol=0)
        torch.testing.assert_close(model(left, left_mask), alone, atol=1e-5, rtol=0)


def test_an_encoder_reward_model_scores_the_same_under_plain_hugging_face_loading(tiny_bert_dir):
    # MiniLM-type encoders read the first ([CLS]) token through the pooler, in both readings
    scorer = RewardScorer(tiny_bert_dir, batch_size=2, max_length=MAX_LENGTH)
    ours = scorer.score(PROMPTS, REPLIES)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    assert scorer.tokenizer.pad_token == tokenizer.pad_token == "[PAD]" and len(scorer.tokenizer) == len(tokenizer)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    texts = [hh_render(d) for d in _dialogues(PROMPTS, REPLIES)]  # HH text: what the encoder was trained on
    batch = tokenizer(texts, padding=True, return_tensors="pt")  # right padding, as TRL pads
    with torch.no_grad():
        plain = model(**batch).logits[:, 0]
    torch.testing.assert_close(plain, ours, atol=1e-4, rtol=0)


def test_a_reward_model_saved_with_pad_equal_to_eos_still_loads_and_scores_as_before(tmp_path):
    # Given a reward model as the earlier trainer saved it from a pad-less base: pad = eos, no pad token of its own
    base = tiny_chat_model_pad_shared_save(tmp_path / "base", pad="eos")
    torch.manual_seed(0)
    old = LlamaForSequenceClassification.from_pretrained(base, num_labels=1)
    old.config.pad_token_id = old.config.eos_token_id
    old.save_pretrained(tmp_path / "old-rm")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.save_pretrained(tmp_path / "old-rm")
    assert tokenizer.pad_token_id == tokenizer.eos_token_id

    # When our scorer reads it in padded batches
    scorer = RewardScorer(tmp_path / "old-rm", batch_size=3, max_length=MAX_LENGTH)
    scores = scorer.score(PROMPTS, REPLIES)

    # Then it is read as saved (no pad token added, no embedding row) ...
    assert scorer.tokenizer.pad_token_id == tokenizer.eos_token_id and len(scorer.tokenizer) == len(tokenizer)
    assert scorer.model.hf.get_input_embeddings().num_embeddings == old.get_input_embeddings().num_embeddings
    # ... and each reward is, as before, the head on the hidden state of the dialogue's last token (its eos)
    old.eval()
    for dialogue, score in zip(_dialogues(PROMPTS, REPLIES), scores):
        ids = tokenizer(
            tokenizer.apply_chat_template(dialogue, tokenize=False), add_special_tokens=False, return_tensors="pt"
        )["input_ids"]
        assert ids[0, -1] == tokenizer.eos_token_id
        with torch.no_grad():
            expected = old.score(old.model(input_ids=ids).last_hidden_state[:, -1])[0, 0]
        assert score.item() == pytest.approx(expected.item(), abs=1e-5)
