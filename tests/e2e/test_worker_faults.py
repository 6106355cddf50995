"""A worker killed with SIGKILL in the middle of sampling loses nothing: the turn still ends `ready`."""

import os
import signal
import time

import pytest

from tests.e2e.conftest import foreign_model_dir

pytestmark = pytest.mark.e2e


def test_sigkilled_worker_mid_sampling_is_survived(stack, tmp_path):
    # a model that never stops early and is slow enough on one CPU thread that the kill lands while it samples
    slow = foreign_model_dir(tmp_path / "slow", seed=3, hidden=256, layers=6, positions=2048, endless=True)
    stack.manage("create_user", "--username", "admin", "--password", "e2e-passphrase", "--role", "admin")
    stack.manage("create_user", "--username", "ann", "--password", "e2e-passphrase", "--role", "annotator")
    stack.manage("register_model", "--kind", "policy", "--name", "slow-v1", "--path", str(slow), "--current")
    stack.batch_open("faults", policy="slow-v1", temperatures="0.8,1.2", target=10, max_new_tokens=1000)
    ann, dialogue_id = stack.dialogue_begin("ann", "e2e-passphrase")
    turn_id = ann.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "Write a long story."}).json()["id"]

    first = stack.workers[0]
    deadline = time.time() + 90
    while "Loading weights" not in stack.worker_log("w1") and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # weights loaded: the worker is now decoding 2 x 1000 tokens
    assert ann.get(f"/api/turns/{turn_id}/").json()["status"] == "sampling"
    os.kill(first.pid, signal.SIGKILL)  # the worker's main process, mid-sampling
    first.wait(10)
    os.killpg(first.pid, signal.SIGKILL)  # and its orphaned embedded beat, which would sweep on
    killed_at = time.time()

    stack.worker_start("w2")
    turn = ann.turn_wait(turn_id, timeout=120)
    assert turn["status"] == "ready" and time.time() - killed_at < 120
    assert stack.sql("SELECT count(*) FROM annotation_sample WHERE turn_id = %s", turn_id) == [(2,)]
    assert len(turn["responses"]) == 2
