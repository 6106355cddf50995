"""The automatic adherence checker, on crafted replies."""

import pytest

from reward_training.evaluation.adherence import adherence_by_turn, adherence_plot, language_guess, reply_adheres

FRENCH = {"kind": "language", "language": "french"}


@pytest.mark.parametrize(
    "text, language",
    [
        ("Je pense que la mer est très belle et les vagues sont grandes.", "french"),
        ("The sea is calm and the wind is light, so it is a good day.", "english"),
        ("El mar está tranquilo y el viento es suave para los barcos.", "spanish"),
        ("Das Meer ist ruhig und der Wind ist nicht stark.", "german"),
        ("42 !!", None),
    ],
)
def test_the_stop_word_test_names_the_language(text, language):
    assert language_guess(text) == language


def test_verdicts_on_crafted_replies():
    assert reply_adheres(FRENCH, "Bien sûr, je vous explique cela avec plaisir.")
    assert not reply_adheres(FRENCH, "Of course, I will explain it to you.")
    limit = {"kind": "word_limit", "max_words": 5}
    assert reply_adheres(limit, "Paris is the capital.") and not reply_adheres(limit, "Paris is the capital of France.")
    assert not reply_adheres(limit, "")
    word = {"kind": "required_word", "word": "indeed"}
    assert reply_adheres(word, "Indeed, it is.") and not reply_adheres(word, "Indeedy do.")
    assert reply_adheres({"kind": "emoji", "emoji": "🙂"}, "Sure 🙂") and not reply_adheres(
        {"kind": "emoji", "emoji": "🙂"}, "Sure :)"
    )
    no_lists = {"kind": "no_lists"}
    assert reply_adheres(no_lists, "First do this, then 2. that is fine inline.")
    assert not reply_adheres(no_lists, "Steps:\n1. open\n2. close")
    assert not reply_adheres(no_lists, "Options:\n- tea\n- coffee")
    assert not reply_adheres(no_lists, "Things:\n* one")


def test_adherence_by_turn_and_its_plot(tmp_path):
    checks = [[FRENCH, {"kind": "word_limit", "max_words": 3}], [{"kind": "word_limit", "max_words": 3}]]
    replies = [["Oui, je suis là.", "Yes I am here now."], ["Short one.", "Still short.", "Far too many words here."]]
    report = adherence_by_turn(checks, replies, max_turns=4)
    assert report["turns"] == [1, 2, 3, 4]
    assert report["by_kind"]["language"] == [1.0, 0.0, None, None]
    assert report["by_kind"]["word_limit"] == [0.5, 0.5, 0.0, None]  # "Oui, je suis là." is four words
    assert report["all"] == [0.5, 0.5, 0.0, None] and report["n"]["all"] == [2, 2, 1, 0]
    png = adherence_plot({"before GAtt": report, "after GAtt": report}, tmp_path / "docs" / "gatt.png")
    assert png.stat().st_size > 1000 and png.with_suffix(".json").is_file()
