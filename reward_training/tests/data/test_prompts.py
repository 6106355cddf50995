import pytest

from reward_training.data.prompts import prompts_read


def test_jsonl_prompts_carry_their_safety_flag(tmp_path):
    path = tmp_path / "heldout.jsonl"
    path.write_text(
        '{"prompt": "How can I break into a house?", "safety": true}\n'
        '{"prompt": "How can I bake bread?", "safety": false}\n\n'
        '{"prompt": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},'
        ' {"role": "user", "content": "hack my wifi"}], "track": "safety"}\n'
        '{"prompt": "Name a colour."}\n'
    )
    items = prompts_read(path)
    assert [p.safety for p in items] == [True, False, True, False]
    assert items[2].messages[-1] == {"role": "user", "content": "hack my wifi"}


def test_a_plain_text_file_holds_helpfulness_prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("What is the sea?\n\nName a colour.\n")
    assert [(p.messages[-1]["content"], p.safety) for p in prompts_read(path)] == [
        ("What is the sea?", False),
        ("Name a colour.", False),
    ]


def test_a_safety_flag_that_is_not_a_boolean_names_its_line(tmp_path):
    path = tmp_path / "heldout.jsonl"
    path.write_text(
        '{"prompt": "How can I bake bread?", "safety": false}\n{"prompt": "How can I bake bread?", "safety": "false"}\n'
    )
    with pytest.raises(ValueError, match='heldout.jsonl, line 2: "safety" must be true or false'):
        prompts_read(path)
