import pytest
import torch

from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.sample_pool import pool_examples
from reward_training.policy.sft import sft_encode
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


def test_a_truncated_reply_is_trained_on_without_end_of_turn(tokenizer):
    finished = sft_tokenize(tokenizer, sft_example("Tell me a story.", "Once upon a time"))
    cut = sft_tokenize(
        tokenizer,
        [
            {"role": "user", "content": "Tell me a story."},
            {"role": "assistant", "content": "Once upon a time", "truncated": True},
        ],
    )
    assert trained_text(tokenizer, finished).endswith(tokenizer.eos_token)
    text = trained_text(tokenizer, cut)
    assert text.rstrip().endswith("Once upon a time") and tokenizer.eos_token_id not in cut.input_ids
    assert cut.loss_tokens < finished.loss_tokens


def test_rejection_sampling_sft_puts_no_loss_on_history_replies(tokenizer):
    # given a pool row whose prompt holds an earlier chosen reply (from an older sampling model) ...
    row = {"prompt": DIALOGUE[:4], "response": "Bien, merci.", "reward": 0.9, "finished": True}
    config = RejectionSamplingConfig().sft
    # ... when rejection sampling's SFT encodes it with its default settings ...
    [tokens], dropped = sft_encode(tokenizer, pool_examples([row]), config)
    # ... then only the selected reply carries loss: the history's "Bonjour." is labelled IGNORE
    assert dropped == 0 and config.loss_on == "last"
    text = trained_text(tokenizer, tokens)
    assert "Bien, merci." in text and "Bonjour" not in text
    history_ids = tokenizer("Bonjour.", add_special_tokens=False)["input_ids"]
    at = next(i for i in range(len(tokens.input_ids)) if tokens.input_ids[i : i + len(history_ids)] == history_ids)
    assert tokens.labels[at : at + len(history_ids)] == [IGNORE] * len(history_ids)
