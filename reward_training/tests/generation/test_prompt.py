import pytest

from reward_training.generation import PromptTooLong, model_load, prompt_encode
from reward_training.generation.prompt import prompt_tokens
from reward_training.testing import tiny_chat_model_save


def dialogue(turns: int) -> list[dict]:
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for n in range(turns):
        messages.append({"role": "user", "content": f"Question number {n}: tell me about the sea and the wind."})
        messages.append({"role": "assistant", "content": f"Answer number {n}: the sea is blue and the wind is nice."})
    messages.append({"role": "user", "content": "NEW PROMPT: why is the sky blue?"})
    return messages


@pytest.fixture(scope="module")
def short_context(tmp_path_factory):
    path = tiny_chat_model_save(tmp_path_factory.mktemp("short") / "m", max_position_embeddings=160)
    return model_load(path, device="cpu")


def test_prompt_fits_whole_dialogue_when_room(tiny_loaded):
    text = tiny_loaded.tokenizer.decode(prompt_encode(tiny_loaded, dialogue(2), 16))
    assert "Question number 0" in text and "Answer number 1" in text
    assert text.endswith("NEW PROMPT: why is the sky blue?\n<|assistant|>\n")


def test_truncation_drops_oldest_turns_and_keeps_system_and_new_prompt(short_context):
    # given a dialogue far longer than the 160-token context
    messages = dialogue(10)
    # when encoding with room for 32 new tokens
    ids = prompt_encode(short_context, messages, 32)
    text = short_context.tokenizer.decode(ids)
    # then it fits, the oldest turns went first, whole, and the system prompt and new prompt stay
    assert len(ids) <= 160 - 32
    assert "You are a helpful assistant." in text
    assert "NEW PROMPT: why is the sky blue?" in text
    assert "Question number 0:" not in text and "Answer number 0:" not in text
    assert "Question number 9:" in text and "Answer number 9:" in text
    kept = [n for n in range(10) if f"Question number {n}:" in text]
    assert kept == list(range(kept[0], 10))
    assert all(f"Answer number {n}:" in text for n in kept)
    # and one more turn would not have fitted
    one_more = messages[:1] + messages[1 + 2 * (kept[0] - 1) :]
    assert len(prompt_tokens(short_context.tokenizer, one_more)) > 160 - 32


def test_new_prompt_is_never_cut(short_context):
    messages = [{"role": "user", "content": "why is the sky blue? " * 60}]
    with pytest.raises(PromptTooLong):
        prompt_encode(short_context, messages, 32)


def test_llama2_format_without_chat_template(tmp_path):
    loaded = model_load(tiny_chat_model_save(tmp_path / "m", with_chat_template=False), device="cpu")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "How are you?"},
    ]
    text = loaded.tokenizer.decode(prompt_encode(loaded, messages, 8))
    assert text == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi. </s><s>[INST] How are you? [/INST]"


def test_messages_must_end_with_user(tiny_loaded):
    with pytest.raises(ValueError):
        prompt_encode(tiny_loaded, [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], 8)
