"""How a reply is encoded for a reward model: a finished one with its end-of-turn, a cut-off one as written."""

import pytest

from reward_training.data.chat import end_of_turn_drop
from reward_training.data.pair_encoding import responses_tokenize
from reward_training.testing import tiny_tokenizer

PROMPT = [{"role": "user", "content": "Tell me a story."}]
REPLY = "Once upon a time there was a small dog"


@pytest.fixture(scope="module", params=[True, False], ids=["template", "llama2"])
def tokenizer(request):
    return tiny_tokenizer(with_chat_template=request.param)


def test_a_finished_reply_ends_with_eos_as_before(tokenizer):
    [default] = responses_tokenize([PROMPT], [REPLY], tokenizer, max_length=128, encoder=False)
    [finished] = responses_tokenize([PROMPT], [REPLY], tokenizer, max_length=128, encoder=False, finished=[True])
    assert finished == default and default[-1] == tokenizer.eos_token_id


def test_a_truncated_reply_is_scored_as_written_without_eos(tokenizer):
    [finished, cut] = responses_tokenize(
        [PROMPT, PROMPT], [REPLY, REPLY], tokenizer, max_length=128, encoder=False, finished=[True, False]
    )
    assert tokenizer.eos_token_id not in cut[-3:]
    assert tokenizer.decode(cut).rstrip().endswith(REPLY)
    # the same tokens up to the reply's end: only the end-of-turn is gone
    assert finished[: len(cut)] == cut and len(finished) > len(cut)


def test_flags_must_match_the_responses(tokenizer):
    with pytest.raises(ValueError, match="differ in number"):
        responses_tokenize([PROMPT], [REPLY], tokenizer, max_length=128, encoder=False, finished=[True, False])


def test_end_of_turn_drop_keeps_the_content_and_refuses_a_reply_not_rendered_verbatim():
    assert end_of_turn_drop(" a cut reply </s>", "a cut reply ") == " a cut reply"
    assert end_of_turn_drop("\nsame same<|im_end|>\n", "same") == "\nsame same"  # its last occurrence
    assert end_of_turn_drop(" </s>", "  ") == ""
    with pytest.raises(ValueError, match="verbatim"):
        end_of_turn_drop(" A CUT REPLY </s>", "a cut reply")
