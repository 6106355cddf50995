import pytest
import torch

from reward_training.policy.sft_data import IGNORE, sft_collate, sft_example, sft_tokenize, token_losses
from reward_training.testing import tiny_tokenizer

DIALOGUE = [
    {"role": "system", "content": "Always answer in French."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Bonjour."},
    {"role": "user", "content": "How are you?"},
    {"role": "assistant", "content": "Bien, merci."},
]


@pytest.fixture(scope="module", params=[True, False], ids=["template", "llama2"])
def tokenizer(request):
    return tiny_tokenizer(with_chat_template=request.param)


def trained_text(tokenizer, tokens):
    return tokenizer.decode([i for i, label in zip(tokens.input_ids, tokens.labels) if label != IGNORE])


def test_prompt_tokens_carry_no_loss(tokenizer):
    tokens = sft_tokenize(tokenizer, sft_example("What is the capital of France?", "Paris."))
    assert len(tokens.input_ids) == len(tokens.labels)
    text = trained_text(tokenizer, tokens)
    assert "Paris." in text and text.endswith(tokenizer.eos_token)
    assert "capital" not in text and "France" not in text
    # the input is the whole rendered dialogue
    assert "What is the capital of France?" in tokenizer.decode(tokens.input_ids)


def test_all_assistant_turns_trained_by_default(tokenizer):
    text = trained_text(tokenizer, sft_tokenize(tokenizer, DIALOGUE))
    assert "Bonjour." in text and "Bien, merci." in text
    assert "French" not in text and "Hello" not in text and "How are you" not in text


def test_loss_on_last_zeroes_earlier_turns(tokenizer):
    text = trained_text(tokenizer, sft_tokenize(tokenizer, DIALOGUE, loss_on="last"))
    assert "Bien, merci." in text and "Bonjour" not in text and "Hello" not in text


def test_loss_on_all_trains_every_token(tokenizer):
    tokens = sft_tokenize(tokenizer, DIALOGUE, loss_on="all")
    assert tokens.labels == tokens.input_ids


def test_example_must_end_with_assistant(tokenizer):
    with pytest.raises(ValueError):
        sft_tokenize(tokenizer, DIALOGUE[:-1])


def test_token_losses_ignores_masked_positions():
    batch = sft_collate(
        [
            type("T", (), {"input_ids": [5, 6, 7], "labels": [IGNORE, IGNORE, 7]})(),
            type("T", (), {"input_ids": [5, 6], "labels": [IGNORE, 6]})(),
        ],
        pad_token_id=0,
    )
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    logits = torch.zeros(2, 3, 10)
    logits[0, 1, 7] = 100.0  # position 1 predicts token 7 perfectly
    logits[1, 0, 6] = 100.0
    logits[0, 0, :] = torch.randn(10) * 50  # predicts a masked label: must not count
    assert token_losses(logits, batch["labels"]).item() == pytest.approx(0.0, abs=1e-4)
