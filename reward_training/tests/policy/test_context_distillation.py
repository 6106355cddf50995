"""Targeted safety context distillation: the RM gate, the preprompt-free training input, the preprompts."""

import json

import pytest
import torch

from reward_training.policy import context_distillation
from reward_training.policy.context_distillation import (
    ContextDistillationConfig,
    SafetyPrompt,
    context_distill,
    distillation_measure,
    gate,
    preprompts_load,
    reward_model_check,
    safety_prompts_read,
    with_preprompt,
)
from reward_training.policy.sft_config import SFTConfig
from reward_training.reward.scorer import RewardScorer
from reward_training.testing import tiny_chat_model_save, tiny_reward_model_save


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cd")
    # a context long enough for the preprompt with its answer template (the tiny tokenizer spends many tokens on it)
    return {
        "policy": tiny_chat_model_save(root / "policy", max_position_embeddings=1024),
        "safety": tiny_reward_model_save(root / "rm-s", seed=2),
        "helpfulness": tiny_reward_model_save(root / "rm-h", seed=3),
    }


PROMPTS = [
    SafetyPrompt([{"role": "user", "content": "How do I steal a car?"}]),
    SafetyPrompt([{"role": "user", "content": "Which dose of this medication should I take?"}]),
    SafetyPrompt([{"role": "user", "content": "Say something mean."}], category="hateful_content"),
]
CONFIG = ContextDistillationConfig(
    max_new_tokens=6,
    progress=False,
    sft=SFTConfig(epochs=1, batch_size=2, micro_batch_size=2, max_length=128, loss_on="last", progress=False),
)


def test_the_shipped_preprompts_pick_a_category_and_its_answer_template():
    preprompts = preprompts_load()
    assert preprompts.generic == "You are a safe and responsible assistant."
    assert preprompts.category_of("How do I steal a car?") == "illicit_activity"
    assert preprompts.category_of("What dosage is safe?") == "unqualified_advice"
    assert preprompts.category_of("I have an issue with my code") is None  # "sue" is no word of it
    assert preprompts.category_of("anything", "hateful_content") == "hateful_content"
    assert preprompts.text_for("illicit_activity").startswith("You are a safe and responsible assistant.\n\n")
    assert "Criminal" in preprompts.text_for("illicit_activity") and preprompts.text_for(None) == preprompts.generic
    assert with_preprompt([{"role": "system", "content": "Own."}, {"role": "user", "content": "q"}], "P")[0] == {
        "role": "system",
        "content": "P\n\nOwn.",
    }


def test_the_gate_keeps_only_replies_the_safety_rm_prefers():
    assert gate([0.9, 0.1, 0.5], [0.2, 0.3, 0.5]) == [True, False, False]  # a tie is not a win


def fake_sampling(monkeypatch, scores_with, scores_without):
    """Replies that say whether they were sampled under the preprompt, and the safety RM's scores for them."""

    def sample(policy_dir, prompts, config):
        texts = [("guided " if p[0]["role"] == "system" else "plain ") + str(i) for i, p in enumerate(prompts)]
        return texts, [True] * len(prompts)

    def score(self, prompts, responses, finished=None):
        assert all(p[0]["role"] == "user" for p in prompts)  # judged against the prompt as the user wrote it
        table = {
            **{f"guided {i}": s for i, s in enumerate(scores_with)},
            **{f"plain {i}": s for i, s in enumerate(scores_without)},
        }
        return torch.tensor([table[r] for r in responses])

    monkeypatch.setattr(context_distillation, "_sample", sample)
    monkeypatch.setattr(RewardScorer, "score", score)


def test_a_preprompted_reply_scored_lower_is_dropped_and_training_input_holds_no_preprompt(
    models, tmp_path, monkeypatch
):
    # given a safety RM that prefers the preprompted reply for prompts 0 and 2 but not 1
    fake_sampling(monkeypatch, scores_with=[1.0, -1.0, 0.5], scores_without=[0.0, 0.0, 0.0])
    trained_on = []
    real_sft = context_distillation.sft_train
    monkeypatch.setattr(
        context_distillation,
        "sft_train",
        lambda config, examples, *a, **k: (trained_on.extend(examples), real_sft(config, examples, *a, **k))[1],
    )
    # when context distillation runs
    metrics = context_distill(
        CONFIG,
        policy_dir=models["policy"],
        safety_rm_dir=models["safety"],
        prompts=PROMPTS,
        preprompts=preprompts_load(),
        output_dir=tmp_path / "cd",
    )
    # then two of three are kept, and the share and categories are recorded
    assert metrics["kept"] == 2 and metrics["kept_share"] == pytest.approx(2 / 3)
    assert metrics["by_category"]["unqualified_advice"] == {"prompts": 1, "kept": 0}
    rows = [json.loads(line) for line in (tmp_path / "cd" / "context_distillation_kept.jsonl").read_text().splitlines()]
    assert [r["response"] for r in rows] == ["guided 0", "guided 2"]
    # and the model was fine-tuned on the preprompted replies with no preprompt in the input
    assert [[m["role"] for m in e] for e in trained_on] == [["user", "assistant"]] * 2
    assert [e[0]["content"] for e in trained_on] == ["How do I steal a car?", "Say something mean."]
    assert not any("safe and responsible" in m["content"] for e in trained_on for m in e)
    assert (tmp_path / "cd" / "config.json").is_file() and metrics["sft"]["steps"] >= 1


def test_nothing_is_written_when_no_preprompted_reply_wins(models, tmp_path, monkeypatch):
    fake_sampling(monkeypatch, scores_with=[0.0, 0.0, 0.0], scores_without=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"^no preprompted reply scored higher .* \(0 of 3\)"):
        context_distill(
            CONFIG,
            policy_dir=models["policy"],
            safety_rm_dir=models["safety"],
            prompts=PROMPTS,
            preprompts=preprompts_load(),
            output_dir=tmp_path / "cd",
        )
    assert not (tmp_path / "cd").exists()


def test_a_policy_is_not_a_reward_model(models):
    reward_model_check(models["safety"])
    with pytest.raises(ValueError, match="is not a reward model"):
        reward_model_check(models["policy"])


def test_real_sampling_and_the_before_after_measurement(models, tmp_path):
    metrics = context_distill(
        CONFIG,
        policy_dir=models["policy"],
        safety_rm_dir=models["safety"],
        prompts=PROMPTS * 3,
        preprompts=preprompts_load(),
        output_dir=tmp_path / "cd",
    )
    assert 0 < metrics["kept_share"] <= 1
    measured = distillation_measure(
        before_dir=models["policy"],
        after_dir=tmp_path / "cd",
        safety_rm_dir=models["safety"],
        safety_prompts=PROMPTS,
        helpfulness_rm_dir=models["helpfulness"],
        helpfulness_prompts=[[{"role": "user", "content": "Tell me a story."}]],
        config=CONFIG,
    )
    assert measured["safety"]["n"] == 3 and measured["helpfulness"]["n"] == 1
    assert 0 <= measured["safety"]["win_rate_after_over_before"]["rate"] <= 1


def test_prompt_files(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps({"prompt": "q", "category": "illicit_activity"}) + "\n" + json.dumps({"prompt": []}) + "\n"
    )
    with pytest.raises(ValueError, match="s.jsonl, line 2"):
        safety_prompts_read(path)
    path.write_text(json.dumps({"prompt": "q", "category": "illicit_activity"}) + "\n")
    assert safety_prompts_read(path) == [SafetyPrompt([{"role": "user", "content": "q"}], "illicit_activity")]
