"""evaluate_reward_model on RewardBench-format files: the benchmark's report, with the chat template named."""

from pathlib import Path

import pytest
from django.core.management import CommandError

from annotation.tests.commands import run
from reward_training.evaluation import rewardbench

pytestmark = pytest.mark.django_db

FIXTURES = Path(rewardbench.__file__).parents[1] / "tests" / "evaluation" / "fixtures"


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory):
    from reward_training.testing import tiny_reward_model_save

    return tiny_reward_model_save(tmp_path_factory.mktemp("rm") / "rm", seed=0)


def test_rewardbench_report_names_sections_subsets_and_the_chat_template(tiny_reward_dir):
    report = run(
        "evaluate_reward_model",
        str(FIXTURES / "rewardbench_v1.jsonl"),
        "--model",
        str(tiny_reward_dir),
        "--format",
        "rewardbench",
    )
    assert set(report["sections"]) == {"chat", "chat-hard", "safety", "reasoning"}
    assert report["subsets"]["hep-python"]["n"] == 2 and report["n"] == 12
    assert 0 <= report["score"] <= 1
    template = report["chat_template"]
    assert template["chat_format"] == "template" and len(template["template_sha256"]) == 16


def test_rewardbench2_report_gives_the_chance_level(tiny_reward_dir):
    report = run(
        "evaluate_reward_model",
        "--data",
        str(FIXTURES / "rewardbench2.jsonl"),
        "--model",
        str(tiny_reward_dir),
        "--format",
        "rewardbench2",
    )
    assert report["subsets"]["Factuality"]["chance"] == 0.25 and report["n"] == 5
    assert report["chat_template"]["chat_format"] == "template"


def test_a_v2_file_read_as_v1_is_refused_in_one_line(tiny_reward_dir):
    with pytest.raises(CommandError, match=r"^data: rewardbench2.jsonl, line 1: chosen: expected a string"):
        run(
            "evaluate_reward_model",
            str(FIXTURES / "rewardbench2.jsonl"),
            "--model",
            str(tiny_reward_dir),
            "--format",
            "rewardbench",
        )
    with pytest.raises(CommandError, match="give the data file, as FILE or --data"):
        run("evaluate_reward_model", "--model", str(tiny_reward_dir), "--format", "rewardbench")
