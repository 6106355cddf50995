"""The layers' import rules (docs/architecture.md): the worker's tasks call the services, never the reverse,
and the training code knows nothing of Django. Checked on the source, so a lazy import inside a function
counts as much as one at the top of a module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        bad = sorted(n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_the_services_do_not_import_the_worker_tasks_that_import_them():
    assert "annotation.services.jobs" in _imports(ROOT / "worker" / "tasks.py")  # the direction that is allowed
    assert _offenders("annotation/services", ("worker.tasks",)) == {}


def test_the_training_code_does_not_import_django_or_the_platform():
    assert _offenders("reward_training", ("django", "annotation", "worker", "webapp")) == {}


def test_the_task_names_the_services_queue_are_the_worker_tasks_names():
    from annotation.services import queueing
    from worker import tasks

    assert (queueing.TURN_SAMPLE, queueing.JOB_RUN) == (tasks.turn_sample.name, tasks.job_run.name)


@pytest.mark.django_db
def test_embedded_mode_finds_the_registered_task_by_name(settings):
    from annotation.services.queueing import JOB_RUN, task_get

    assert task_get(JOB_RUN).name == JOB_RUN
