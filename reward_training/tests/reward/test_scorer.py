import pytest
import torch

from reward_training.reward.model import reward_model_load
from reward_training.reward.scorer import RewardScorer


def test_scorer_scores_each_response_as_the_model_does_in_batches(tiny_llama_dir):
    scorer = RewardScorer(tiny_llama_dir, batch_size=2, max_length=64)
    prompts = [[{"role": "user", "content": f"question {i} " * (i + 1)}] for i in range(5)]
    responses = [f"answer {i} " * (5 - i) for i in range(5)]
    scores = scorer.score(prompts, responses)
    assert scores.shape == (5,) and torch.isfinite(scores).all()
    one_by_one = torch.cat(
        [RewardScorer(tiny_llama_dir, batch_size=1, max_length=64).score([p], [r]) for p, r in zip(prompts, responses)]
    )
    torch.testing.assert_close(scores, one_by_one, atol=1e-5, rtol=1e-4)


def test_decoder_reward_is_read_at_the_last_real_token_whatever_the_padding(tiny_llama_dir):
    model, tokenizer = reward_model_load(tiny_llama_dir)
    ids = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, tokenizer.pad_token_id, tokenizer.pad_token_id]])
    alone = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    with_pad = model(input_ids=padded, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]]))
    torch.testing.assert_close(alone, with_pad, atol=1e-5, rtol=1e-4)


def test_a_truncated_reply_is_scored_as_written(tiny_llama_dir):
    model, tokenizer = reward_model_load(tiny_llama_dir)
    scorer = RewardScorer(tiny_llama_dir, batch_size=2, max_length=64)
    prompts = [[{"role": "user", "content": "tell me a story"}]] * 2
    replies = ["once upon a time there was", "the end."]
    default = scorer.score(prompts, replies)
    torch.testing.assert_close(scorer.score(prompts, replies, finished=[True, True]), default)
    flagged = scorer.score(prompts, replies, finished=[False, True])
    # the cut-off reply's score is the model's reward of the dialogue text with no end-of-turn after the reply
    ids = (
        tokenizer("<s>[INST] tell me a story [/INST]", add_special_tokens=False)["input_ids"]
        + tokenizer(" once upon a time there was", add_special_tokens=False)["input_ids"]
    )
    alone = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))[0, 0]
    assert flagged[0].item() == pytest.approx(alone.item(), abs=1e-4)
    assert flagged[0].item() != pytest.approx(default[0].item(), abs=1e-4)
    assert flagged[1].item() == pytest.approx(default[1].item(), abs=1e-5)  # a finished reply as before
