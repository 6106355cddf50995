"""build_gatt_data as a user runs it: rows on disk, a registered fine-tune, adherence by turn, one-line errors."""

import json

import pytest
from django.core.management import CommandError

from annotation.models import ModelVersion
from annotation.tests.commands import run
from annotation.tests.factories import DialogueFactory, annotate, ready_turn

pytestmark = pytest.mark.django_db


def write_dialogues(path, dialogues):
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    return path


def dialogue(*users):
    messages = []
    for user in users:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": "old reply"}]
    return messages


FAST = ("--max-new-tokens", "6", "--max-turns", "3")


def test_build_train_register_and_measure(tiny_policy_dir, tmp_path, capsys):
    data = write_dialogues(
        tmp_path / "d.jsonl", [dialogue("Hello", "Tell me more", "Why?"), dialogue("What is the sea?")]
    )
    heldout = write_dialogues(tmp_path / "h.jsonl", [dialogue("Hi there", "And then?")])
    run("register_model", "--kind", "policy", "--name", "base", "--path", str(tiny_policy_dir))
    result = run(
        "build_gatt_data",
        "--policy",
        "base",
        "--dialogues",
        str(data),
        "--output",
        str(tmp_path / "g.jsonl"),
        *FAST,
        "--train",
        str(tmp_path / "gatt-model"),
        "--register",
        "base-gatt",
        "--eval-dialogues",
        str(heldout),
        "--sft-lr",
        "1e-3",
    )
    rows = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert result["rows"] == len(rows) == 4 and result["placement"] == "system"
    assert all(r["messages"][0]["role"] == "system" and r["loss_on"] == "last" for r in rows)
    assert "GAtt sampling" in capsys.readouterr().err  # the progress bar
    assert result["sft"]["steps"] >= 1 and result["sft"]["examples"] == 4
    version = ModelVersion.objects.get(name="base-gatt")
    assert version.parent.name == "base" and version.lineage["method"] == "ghost_attention"
    assert version.lineage["instructions_version"] == "gatt-instructions-v1" and version.lineage["rows"] == 4
    assert set(result["adherence"]) == {"before GAtt", "after GAtt"}
    assert len(result["adherence"]["after GAtt"]["all"]) == 3
    assert (tmp_path / "g.adherence.png").stat().st_size > 1000


def test_the_platform_dialogues_chosen_path(tiny_policy_dir, tmp_path):
    conversation = DialogueFactory(system_prompt="Be kind.")
    annotate(ready_turn(dialogue=conversation, index=0, prompt="first question"), chosen="b")
    annotate(ready_turn(dialogue=conversation, index=1, prompt="second question"), chosen="a")
    result = run(
        "build_gatt_data",
        "--policy",
        str(tiny_policy_dir),
        "--from-platform",
        "--output",
        str(tmp_path / "g.jsonl"),
        *FAST,
    )
    rows = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert result["dialogues"] == 1 and [r["turns"] for r in rows] == [1, 2]
    messages = rows[-1]["messages"]
    assert messages[0]["content"].startswith("Be kind.\n\n")
    assert [m["content"] for m in messages if m["role"] == "user"] == ["first question", "second question"]
    assert not any("reply b to" in m["content"] for m in messages)  # the replies are resampled


def test_bad_input_exits_with_one_line_and_writes_nothing(tiny_policy_dir, tmp_path):
    out = tmp_path / "g.jsonl"
    no_user = write_dialogues(tmp_path / "bad.jsonl", [dialogue("Hi"), [{"role": "assistant", "content": "alone"}]])
    with pytest.raises(CommandError, match=r"^dialogues: bad.jsonl, line 2: the dialogue has no user turn$"):
        run("build_gatt_data", "--policy", str(tiny_policy_dir), "--dialogues", str(no_user), "--output", str(out))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": "x", "attributes": {}}))
    good = write_dialogues(tmp_path / "d.jsonl", [dialogue("Hi")])
    on_good = ["build_gatt_data", "--policy", str(tiny_policy_dir), "--dialogues", str(good), "--output", str(out)]
    with pytest.raises(CommandError, match=r"^instructions: .*empty.json holds no instructions$"):
        run(*on_good, "--instructions", str(empty))
    with pytest.raises(CommandError, match="^register: needs --train"):
        run(*on_good, "--register", "x")
    with pytest.raises(CommandError, match="^dialogues: no annotated dialogue matches$"):
        run("build_gatt_data", "--policy", str(tiny_policy_dir), "--from-platform", "--output", str(out))
    assert not out.exists() and not list(tmp_path.glob(".*.tmp-*"))


def test_a_dialogue_too_long_for_the_model_exits_with_one_line(tmp_path):
    from reward_training.testing import tiny_chat_model_save

    short_context = tiny_chat_model_save(tmp_path / "short", max_position_embeddings=64)
    data = write_dialogues(tmp_path / "d.jsonl", [dialogue("a long question " * 20)])
    with pytest.raises(CommandError, match=r"^dialogues: the prompt needs \d+ tokens but the model's context of 64"):
        run(
            "build_gatt_data",
            "--policy",
            str(short_context),
            "--dialogues",
            str(data),
            "--output",
            str(tmp_path / "g.jsonl"),
            *FAST,
        )
    assert not (tmp_path / "g.jsonl").exists()
