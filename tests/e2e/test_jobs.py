"""Dashboard jobs on a live stack, as an admin drives them from the batch page: train both reward models
on the batches up to here (surviving a SIGKILLed worker), make them current, measure them on the batch,
and refresh the policy through the promotion gate.
"""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import foreign_model_dir
from tests.e2e.stack import stack_running

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/8"  # this module's own: no other stack takes its tasks


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    # reward models start from a model slow enough on one CPU thread that a kill lands mid-training
    rm_base = foreign_model_dir(workdir / "rm-base", seed=5, hidden=256, layers=6)
    training = {
        "rm_batch_size": 2,
        "rm_save_every_steps": 1,
        "rm_epochs": 1,  # the jobs' mechanics, not the small-data default's 3 passes (35 s more)
        "rm_max_length": 128,
        "k": 2,
        "max_new_tokens": 24,
        "sft_epochs": 1,
        "sft_lr": 1e-4,
    }
    with stack_running(
        workdir,
        worker_env={
            "REDIS_URL": REDIS_URL,
            "RM_BASE_MODEL": str(rm_base),
            "JOB_STALE_S": "8",
            "PROMOTION_HELDOUT_LIMIT": "12",
            "JOB_TRAINING": json.dumps(training),
        },
    ) as running:
        yield running


def job_wait(stack, job_id: int, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        [(status, progress, error, attempts)] = stack.sql(
            "SELECT status, progress, error, attempts FROM annotation_job WHERE id = %s", job_id
        )
        if status in ("succeeded", "failed"):
            return {"status": status, "progress": progress, "error": error, "attempts": attempts}
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {status} after {timeout}s:\n{stack.worker_log()[-3000:]}")


def job_post(session, stack, batch_id: int, kind: str):
    return session.post(
        f"{stack.url}/dashboard/batches/{batch_id}/jobs/",
        timeout=30,
        data={"kind": kind, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )


def test_jobs_from_the_batch_page(stack):
    stack.manage("create_user", "--username", "boss", "--password", "e2e-passphrase", "--role", "admin")
    stack.manage(
        "register_model",
        "--kind",
        "policy",
        "--name",
        "demo-v0",
        "--path",
        str(ROOT / "assets" / "demo-chat"),
        "--current",
    )
    for track in ("helpfulness", "safety"):
        stack.batch_open(
            f"week1-{track}", track=track, policy="demo-v0", temperatures="0.7,1.2", target=12, max_new_tokens=24
        )
        run = stack.annotators_simulate(
            users=2, comparisons=6, track=track, timeout=600, options=("--username-prefix", f"sim-{track}")
        )
        assert run["errors"] == 0 and run["comparisons"] == 12, run
    [(batch_id,)] = stack.sql("SELECT id FROM annotation_batch WHERE name = 'week1-safety'")
    admin = stack.staff_session("boss", "e2e-passphrase")
    batch_page = f"{stack.url}/dashboard/batches/{batch_id}/"

    # measuring RMs that do not exist yet is refused with the reason, on the batch page
    answer = job_post(admin, stack, batch_id, "rm_accuracy")
    assert answer.url == batch_page and "no current helpfulness or safety reward model" in answer.text

    # train: the job page shows progress; a worker SIGKILLed mid-training loses nothing
    answer = job_post(admin, stack, batch_id, "train_reward_models")
    job_id = int(re.search(r"/dashboard/jobs/(\d+)/$", answer.url).group(1))
    assert "Train reward models on batches up to here" in answer.text
    deadline = time.time() + 180
    while not stack.sql("SELECT 1 FROM annotation_job WHERE id = %s AND stage LIKE '%%reward model: step%%'", job_id):
        assert time.time() < deadline, stack.worker_log()[-3000:]
        time.sleep(0.1)
    assert job_post(admin, stack, batch_id, "train_reward_models").text.count("is already running") == 1
    first = stack.workers[0]
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    os.killpg(first.pid, signal.SIGKILL)
    [(progress_at_kill,)] = stack.sql("SELECT progress FROM annotation_job WHERE id = %s", job_id)
    assert 0 < progress_at_kill < 1
    stack.worker_start("w2")
    done = job_wait(stack, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 2 and done["progress"] == 1.0, done
    page = admin.get(f"{stack.url}/dashboard/jobs/{job_id}/", timeout=30).text
    names = re.findall(r'class="model-name">([^<]+)<', page)
    assert sorted(names) == [f"rm-helpfulness-week1-safety-job{job_id}", f"rm-safety-week1-safety-job{job_id}"]
    # both training runs saw every comparison of both batches up to here; at least one resumed after the kill
    lineage = {m["name"]: m for m in stack.manage("list_models", "--kind", "reward")}
    assert set(lineage) == set(names) and not any(m["current"] for m in lineage.values())
    resumed = stack.sql("SELECT metrics->'resumed_from' FROM annotation_modelversion WHERE kind = 'reward'")
    assert any(r[0] for r in resumed), resumed

    # make both current from the job page
    for (version_id,) in stack.sql("SELECT id FROM annotation_modelversion WHERE kind = 'reward'"):
        admin.post(
            f"{stack.url}/dashboard/models/{version_id}/current/",
            timeout=30,
            data={"csrfmiddlewaretoken": admin.cookies["csrftoken"], "next": f"/dashboard/jobs/{job_id}/"},
        )
    assert all(m["current"] for m in stack.manage("list_models", "--kind", "reward"))

    # RM accuracy on this batch: every exported pair scored, shown on the batch page with its chart
    answer = job_post(admin, stack, batch_id, "rm_accuracy")
    accuracy_job = int(re.search(r"/dashboard/jobs/(\d+)/$", answer.url).group(1))
    assert job_wait(stack, accuracy_job)["status"] == "succeeded"
    exported = admin.get(f"{stack.url}/dashboard/batches/{batch_id}/export.jsonl", timeout=30).text.splitlines()
    page = admin.get(batch_page, timeout=30).text
    table = page[page.index('id="rm-accuracy"') :]
    assert f'rm-safety-week1-safety-job{job_id}</td><td class="num">{len(exported)}</td>' in table
    assert f'src="/dashboard/jobs/{accuracy_job}/rm-accuracy.png"' in page
    chart = admin.get(f"{stack.url}/dashboard/jobs/{accuracy_job}/rm-accuracy.png", timeout=60)
    assert chart.headers["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"

    # refresh the policy on this batch's prompts; the gate decides whether it becomes current
    answer = job_post(admin, stack, batch_id, "refresh_policy")
    refresh_job = int(re.search(r"/dashboard/jobs/(\d+)/$", answer.url).group(1))
    done = job_wait(stack, refresh_job, timeout=600)
    assert done["status"] == "succeeded", done
    policies = {m["name"]: m for m in stack.manage("list_models", "--kind", "policy")}
    new = policies[f"policy-week1-safety-job{refresh_job}"]
    assert new["parent"] == "demo-v0"
    [(rm_win, promoted)] = stack.sql(
        "SELECT (result->>'rm_win_rate')::float, (result->>'promoted')::bool FROM annotation_job WHERE id = %s",
        refresh_job,
    )  # nothing else moved the policy
    assert promoted == (rm_win > 0.5) and new["current"] == promoted and policies["demo-v0"]["current"] != promoted
    # the simulation's word-list oracle is not reported for a team's own annotations (REFRESH_ORACLE_WIN_RATE off)
    [(oracle_reported,)] = stack.sql("SELECT result ? 'oracle_win_rate' FROM annotation_job WHERE id = %s", refresh_job)
    assert oracle_reported is False
    assert "policy-week1-safety-job" in admin.get(f"{stack.url}/dashboard/jobs/{refresh_job}/", timeout=30).text
    # and the batches page draws the new version's win rate over its parent, as the job measured it
    batches = admin.get(f"{stack.url}/dashboard/", timeout=30).text
    row = re.search(
        rf"<td>policy-week1-safety-job{refresh_job}</td><td>demo-v0</td><td>rm</td>\s*<td class=\"num\">([0-9.]+)",
        batches[batches.index('id="win-rates"') :],
    )
    assert row and abs(float(row.group(1)) - rm_win) < 5e-4
    chart = admin.get(f"{stack.url}/dashboard/win-rates.png", timeout=60)
    assert chart.headers["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"
