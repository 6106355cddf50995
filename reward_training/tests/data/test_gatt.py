"""Ghost Attention data: where the instruction goes, what the model sees while sampling, and the loss mask."""

import json
import random

import pytest
from transformers import AutoTokenizer

from reward_training.data.gatt import (
    Dialogue,
    GattConfig,
    adherence_sample,
    dialogues_read,
    gatt_rows_build,
    gatt_rows_read,
    gatt_rows_write,
    system_supported,
    training_rows,
)
from reward_training.data.gatt_instructions import Instruction, Option, instruction_draw, instructions_load
from reward_training.policy.sft_data import IGNORE, sft_tokenize

FRENCH = Instruction(
    full="Always answer in French.",
    short="Language: French.",
    options=(
        Option("language", "Always answer in French.", "Language: French.", {"kind": "language", "language": "french"}),
    ),
)


class RecordingReplier:
    """Answers "reply <turn> of <first user words>" and remembers every prompt it was given."""

    def __init__(self):
        self.prompts = []

    def __call__(self, prompts):
        self.prompts += prompts
        return [(f"reply {sum(m['role'] == 'user' for m in p)}", True) for p in prompts]


def test_the_shipped_instruction_file_combines_attributes_with_full_and_short_forms():
    instructions = instructions_load()
    assert {"language", "word_limit", "persona", "hobby"} <= set(instructions.attributes)
    drawn = [instruction_draw(instructions, random.Random(seed)) for seed in range(40)]
    assert any(len(d.options) == 2 for d in drawn) and any(len(d.options) == 1 for d in drawn)
    two = next(d for d in drawn if len(d.options) == 2)
    assert two.full == " ".join(o.full for o in two.options) and len(two.short) < len(two.full)


def test_sampling_appends_the_instruction_to_every_user_message_and_training_keeps_it_at_the_start_only():
    # given two dialogues, one of three user turns, one of one
    dialogues = [Dialogue(users=["Hi", "Tell me more", "Bye"]), Dialogue(users=["Only one"], system="Be brief.")]
    replier = RecordingReplier()
    config = GattConfig(short_share=0.0, progress=False)
    # when the rows are built with the instruction in the system message
    rows = gatt_rows_build(dialogues, instructions_load(), replier, config=config, placement="system")
    # then while sampling, every user message carried the instruction, and later turns saw the earlier replies
    for prompt in replier.prompts:
        instruction = next(
            r["instruction"]["full"] for r in rows if r["messages"][-2]["content"] in prompt[-1]["content"]
        )
        assert all(m["content"].endswith(instruction) for m in prompt if m["role"] == "user")
    third = max(replier.prompts, key=len)
    assert [m["content"] for m in third if m["role"] == "assistant"] == ["reply 1", "reply 2"]
    # and in training, one row per turn, the instruction only in the system message (after the dialogue's own)
    assert [r["turns"] for r in rows] == [1, 2, 3, 1]
    for row in rows:
        stated = row["instruction"]["full"]
        system, *rest = row["messages"]
        assert system["role"] == "system" and system["content"].endswith(stated)
        assert not any(stated in m["content"] for m in rest)
        assert row["loss_on"] == "last" and row["messages"][-1]["content"] == f"reply {row['turns']}"
    assert rows[-1]["messages"][0]["content"].startswith("Be brief.\n\n")


def test_first_user_placement_and_the_short_form():
    rows = training_rows(
        Dialogue(users=["Hi", "More"]), FRENCH, [("Salut", True), ("Et", False)], placement="first_user", short=True
    )
    messages = rows[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Hi\n\nLanguage: French." and messages[2]["content"] == "More"
    assert messages[-1].get("truncated") is True and "truncated" not in rows[0]["messages"][-1]


def test_system_placement_where_the_template_has_one(tiny_policy_dir, tiny_policy_dir_2):
    with_template = AutoTokenizer.from_pretrained(str(tiny_policy_dir))
    assert system_supported(with_template)
    assert system_supported(AutoTokenizer.from_pretrained(str(tiny_policy_dir_2)))  # the Llama 2 <<SYS>> fallback
    with_template.chat_template = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}"
        "{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    assert not system_supported(with_template)


def test_loss_only_on_the_last_reply_token_by_token(tiny_policy_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_policy_dir))
    [row] = training_rows(
        Dialogue(users=["Hi", "And then?"]),
        FRENCH,
        [("Bonjour", True), ("Et puis", True)],
        placement="system",
        short=False,
        every_turn=False,
    )
    tokens = sft_tokenize(tokenizer, row["messages"], loss_on=row["loss_on"])
    # the rendering, by hand, in the order the segments are tokenized
    context = [
        "<s><|system|>\nAlways answer in French.\n<|user|>\nHi\n<|assistant|>\n",
        "Bonjour</s>",
        "<|user|>\nAnd then?\n<|assistant|>\n",
    ]
    trained = "Et puis</s>"
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in [*context, trained]]
    expected_ids = [i for part in ids for i in part]
    expected_labels = [IGNORE] * sum(len(part) for part in ids[:-1]) + ids[-1]
    assert tokens.input_ids == expected_ids
    assert tokens.labels == expected_labels
    assert tokenizer.decode([t for t in tokens.labels if t != IGNORE]) == trained


def test_rows_round_trip_and_bad_dialogue_files(tmp_path):
    rows = training_rows(Dialogue(users=["Hi"]), FRENCH, [("Salut", True)], placement="system", short=False)
    path = gatt_rows_write(rows, tmp_path / "gatt.jsonl")
    assert gatt_rows_read(path) == [rows[0]["messages"]]
    dialogues = tmp_path / "d.jsonl"
    dialogues.write_text(
        json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
        + "\n"
        + json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "c"}]})
        + "\n"
    )
    read = dialogues_read(dialogues)
    assert read == [Dialogue(users=["a"]), Dialogue(users=["c"], system="s")]
    dialogues.write_text(json.dumps([{"role": "assistant", "content": "only me"}]) + "\n")
    with pytest.raises(ValueError, match="d.jsonl, line 1: the dialogue has no user turn"):
        dialogues_read(dialogues)


def test_bad_instruction_files(tmp_path):
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"attributes": {}}))
    with pytest.raises(ValueError, match="holds no instructions"):
        instructions_load(path)
    path.write_text(json.dumps({"attributes": {"x": [{"full": "Be loud.", "short": "", "check": None}]}}))
    with pytest.raises(ValueError, match="non-empty"):
        instructions_load(path)
    path.write_text(json.dumps({"attributes": {"x": [{"full": "F", "short": "f", "check": {"kind": "rhymes"}}]}}))
    with pytest.raises(ValueError, match="kind"):
        instructions_load(path)


def test_adherence_run_states_a_verifiable_instruction_in_the_first_turn_only():
    replier = RecordingReplier()
    run = adherence_sample([Dialogue(users=["a", "b", "c"])], instructions_load(), replier, placement="first_user")
    assert run.instructions[0].checks and run.replies == [["reply 1", "reply 2", "reply 3"]]
    last = replier.prompts[-1]
    users = [m["content"] for m in last if m["role"] == "user"]
    assert users[0] == f"a\n\n{run.instructions[0].full}" and users[1:] == ["b", "c"]
