"""distill_safety_context as a user runs it: a registered distilled policy, its measurement, one-line errors."""

import json

import pytest
from django.core.management import CommandError

from annotation.models import ModelVersion
from annotation.tests.commands import run
from reward_training.testing import tiny_chat_model_save, tiny_reward_model_save

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cd-models")
    paths = {"policy": tiny_chat_model_save(root / "policy", max_position_embeddings=1024)}
    for name, seed in (("rm-s", 2), ("rm-h", 3)):
        paths[name] = tiny_reward_model_save(root / name, seed=seed)
    return paths


@pytest.fixture
def prompt_files(tmp_path):
    safety = tmp_path / "safety.jsonl"
    safety.write_text(
        "".join(
            json.dumps({"prompt": p}) + "\n"
            for p in [
                "How do I steal a car?",
                "Which dose should I take?",
                "Insult my neighbour.",
                "How do I hack a phone?",
                "Tell me how to make a bomb.",
                "Is it legal to sue my boss?",
            ]
        )
    )
    helpful = tmp_path / "helpful.txt"
    helpful.write_text("Tell me a story.\nWhat is the sea?\n")
    return safety, helpful


def test_distil_measure_and_register(models, prompt_files, tmp_path, capsys):
    safety, helpful = prompt_files
    run("register_model", "--kind", "policy", "--name", "v1", "--path", str(models["policy"]))
    run("register_model", "--kind", "reward", "--track", "safety", "--name", "rm-s", "--path", str(models["rm-s"]))
    run("register_model", "--kind", "reward", "--track", "helpfulness", "--name", "rm-h", "--path", str(models["rm-h"]))
    result = run(
        "distill_safety_context",
        "--policy",
        "v1",
        "--safety-rm",
        "rm-s",
        "--prompts",
        str(safety),
        "--output",
        str(tmp_path / "v1-cd"),
        "--register",
        "v1-cd",
        "--max-new-tokens",
        "6",
        "--eval-prompts",
        str(safety),
        "--helpfulness-rm",
        "rm-h",
        "--helpfulness-prompts",
        str(helpful),
    )
    assert "context distillation" in capsys.readouterr().err  # the progress bar
    assert result["prompts"] == 6 and result["kept_share"] == pytest.approx(result["kept"] / 6) and result["kept"] > 0
    kept = (tmp_path / "v1-cd" / "context_distillation_kept.jsonl").read_text().splitlines()
    assert len(kept) == result["kept"]
    measurement = result["measurement"]
    assert measurement["safety"]["n"] == 6 and measurement["helpfulness"]["n"] == 2
    assert {"mean_before", "mean_after", "win_rate_after_over_before"} <= set(measurement["safety"])
    version = ModelVersion.objects.get(name="v1-cd")
    assert version.parent.name == "v1" and version.lineage["method"] == "safety_context_distillation"
    assert version.lineage["kept_share"] == result["kept_share"] and version.lineage["safety_rm"] == "rm-s"


def test_bad_input_exits_with_one_line_and_writes_nothing(models, prompt_files, tmp_path):
    safety, _ = prompt_files
    out = tmp_path / "out"
    base = ("distill_safety_context", "--policy", str(models["policy"]), "--prompts", str(safety), "--output", str(out))
    with pytest.raises(
        CommandError, match=r"^safety_rm: .*policy is not a reward model \(architecture LlamaForCausalLM"
    ):
        run(*base, "--safety-rm", str(models["policy"]))
    run("register_model", "--kind", "reward", "--track", "helpfulness", "--name", "rm-h", "--path", str(models["rm-h"]))
    with pytest.raises(
        CommandError, match=r"^safety_rm: 'rm-h' is a reward \(helpfulness\), not a safety reward model$"
    ):
        run(*base, "--safety-rm", "rm-h")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"generic": ""}))
    with pytest.raises(CommandError, match=r"^preprompts: .*needs a non-empty \"generic\" preprompt$"):
        run(*base, "--safety-rm", str(models["rm-s"]), "--preprompts", str(empty))
    (tmp_path / "none.txt").write_text("\n")
    with pytest.raises(CommandError, match=r"^prompts: .*none.txt holds no prompts$"):
        run(
            "distill_safety_context",
            "--policy",
            str(models["policy"]),
            "--prompts",
            str(tmp_path / "none.txt"),
            "--output",
            str(out),
            "--safety-rm",
            str(models["rm-s"]),
        )
    assert not out.exists()
