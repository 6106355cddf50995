"""What a newcomer meets first: the built-in model converted from GGUF, and commands run before `migrate`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError

from annotation.models import ModelVersion
from annotation.tests.commands import hh_harmless_write, hh_training_args, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_convert_gguf_registers_once_and_refuses_bad_input(smollm2_dir, settings, tmp_path):
    from reward_training.generation.gguf import smollm2_gguf_path

    settings.MODEL_DIR = smollm2_dir.parent  # already converted there: the command finds it and only registers
    first = run("convert_gguf", str(smollm2_gguf_path()), "--name", smollm2_dir.name, "--current")
    again = run("convert_gguf", str(smollm2_gguf_path()), "--name", smollm2_dir.name)
    assert first["current"] and first["lineage"]["architecture"] == "llama"
    assert again["converted"] is False and ModelVersion.objects.filter(name=smollm2_dir.name).count() == 1
    with pytest.raises(CommandError, match="no such file"):
        run("convert_gguf", str(tmp_path / "missing.gguf"), "--name", "other")
    (tmp_path / "notes.gguf").write_text("hello")
    with pytest.raises(CommandError, match="not a GGUF file"):
        run("convert_gguf", str(tmp_path / "notes.gguf"), "--name", "other")
    assert not ModelVersion.objects.filter(name="other").exists()
    with pytest.raises(CommandError, match="letters, digits"):
        run("convert_gguf", str(smollm2_gguf_path()), "--name", "../elsewhere")
    # another GGUF file under a taken name is refused before anything is written
    from reward_training.tests.generation.test_gguf import _gguf_file

    weights = smollm2_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    with pytest.raises(CommandError, match="converted from another GGUF file"):
        run("convert_gguf", str(_gguf_file(tmp_path / "other.gguf", "llama")), "--name", smollm2_dir.name)
    assert weights.stat().st_mtime_ns == before


@pytest.mark.django_db
def test_bootstrap_demo_makes_smollm2_the_current_policy(smollm2_dir, settings):
    settings.MODEL_DIR = smollm2_dir.parent
    result = run("bootstrap_demo")
    assert result["policy"] == "smollm2-135m-instruct" and result["batches"] == ["demo-helpfulness", "demo-safety"]
    current = ModelVersion.objects.get(kind="policy", is_current=True)
    assert current.name == "smollm2-135m-instruct" and Path(current.path) == smollm2_dir
    assert run("bootstrap_demo")["policy"] == "smollm2-135m-instruct"  # idempotent


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def bare_env(tmp_path):
    """A newcomer's shell: an SQLite file that `migrate` never ran on."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", MODEL_DIR=str(tmp_path / "models"))
    return env


@pytest.mark.parametrize(
    "args",
    [
        ["list_models"],
        ["bootstrap_demo"],
        ["set_current", "v1"],
        ["create_user", "--username", "u", "--password", "long-enough-pw", "--role", "admin"],
        ["train_reward_model", "--kind", "safety", "--base", "some-name", "--data", "x.jsonl", "--output", "out"],
    ],
)
def test_before_migrate_every_command_says_what_to_run_in_one_line(bare_env, args):
    done = _manage(bare_env, *args)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "run `python manage.py migrate` first" in lines[0], done.stderr[-2000:]


def test_an_unreachable_database_is_named_in_one_line(bare_env):
    bare_env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:9/nowhere",
        DJANGO_SECRET_KEY="newcomer-test-key-" + "0123456789abcdef" * 3,
    )
    done = _manage(bare_env, "list_models")
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1 and "cannot reach the database (127.0.0.1:9/nowhere)" in lines[0]


def test_train_reward_model_on_a_directory_needs_no_database(bare_env, tiny_policy_dir, tmp_path):
    hh = hh_harmless_write(tmp_path / "harmless.jsonl.gz", 8)
    done = _manage(
        bare_env,
        *hh_training_args("safety", tiny_policy_dir, hh, tmp_path / "rm", "--batch-size", "4", "--max-length", "64"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pairs_per_second" in json.loads(done.stdout.strip().splitlines()[-1])
    assert not (tmp_path / "fresh.sqlite3").exists() or (tmp_path / "fresh.sqlite3").stat().st_size == 0


@pytest.mark.django_db
def test_bootstrap_demo_moves_a_database_of_an_earlier_release_onto_smollm2(smollm2_dir, settings):
    # given a demo database from before SmolLM2: the 2.4M model current, and the demo batches sampling it
    run(
        "register_model",
        "--kind",
        "policy",
        "--name",
        "demo-chat-v0",
        "--path",
        str(ROOT / "assets" / "demo-chat"),
        "--current",
    )
    run(
        "create_batch",
        "--name",
        "demo-helpfulness",
        "--track",
        "helpfulness",
        "--policy",
        "demo-chat-v0",
        "--temperatures",
        "0.7,1.2",
        "--target",
        "10",
        "--activate",
    )
    settings.MODEL_DIR = smollm2_dir.parent
    # when bootstrap_demo runs again
    result = run("bootstrap_demo")
    # then the demo samples SmolLM2, in new batches, and the old batch is closed
    assert result["sampling_from"] == ["smollm2-135m-instruct"]
    assert ModelVersion.objects.get(kind="policy", is_current=True).name == "smollm2-135m-instruct"
    assert result["batches"] == ["demo-helpfulness-smollm2-135m-instruct", "demo-safety"]
    from annotation.models import Batch

    assert Batch.objects.get(name="demo-helpfulness").status == Batch.Status.CLOSED
