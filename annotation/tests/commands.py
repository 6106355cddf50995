"""Helpers for the tests that run management commands as a user does.

from annotation.tests.commands import run
result = run("list_models", "--kind", "policy")   # the command's final JSON line
"""

import gzip
import itertools
import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command

HH_HARMLESS_DEV = Path(__file__).resolve().parents[2] / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"


def run(*args) -> dict | list:
    """call_command(*args) with stdout and stderr captured; the JSON of its last stdout line."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def hh_harmless_write(path: Path, n: int) -> Path:
    """The first n rows of the repository's HH harmless dev file, gzipped into path (an HH-format file)."""
    with gzip.open(HH_HARMLESS_DEV, "rt") as rows:
        path.write_bytes(gzip.compress("".join(itertools.islice(rows, n)).encode()))
    return path


def hh_training_args(kind: str, base, data, output, *extra: str) -> list[str]:
    """`train_reward_model` of a --kind on an HH-format file, as a command's arguments."""
    return [
        "train_reward_model",
        "--kind",
        kind,
        "--base",
        str(base),
        "--data",
        str(data),
        "--format",
        "hh-rlhf",
        "--output",
        str(output),
        *extra,
    ]
