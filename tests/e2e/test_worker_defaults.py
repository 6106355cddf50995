"""The contract's worker command, exactly as written: `celery -A webapp worker` with no flags samples turns."""

import subprocess
import sys

import pytest

from tests.e2e.conftest import foreign_model_dir
from tests.e2e.stack import ROOT, Stack

pytestmark = pytest.mark.e2e


def test_a_worker_started_with_no_flags_samples_turns(tmp_path):
    stack = Stack(tmp_path)
    try:
        stack.start()
        log = open(tmp_path / "worker-bare.log", "ab")
        stack.workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "webapp", "worker"],
                cwd=ROOT,
                env=stack.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        model = foreign_model_dir(tmp_path / "chat", seed=3)
        stack.manage("create_user", "--username", "ann", "--password", "ann-pw-12345", "--role", "annotator")
        stack.manage("register_model", "--kind", "policy", "--name", "chat", "--path", str(model), "--current")
        stack.batch_open("week-1", policy="chat", temperatures="0.7,1.2", target=5, max_new_tokens=16)
        ann, dialogue_id = stack.dialogue_begin("ann", "ann-pw-12345")
        turn = ann.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "Tell me about the sea."}).json()
        turn = ann.turn_wait(turn["id"], timeout=180)
        assert turn["status"] == "ready", (turn, (tmp_path / "worker-bare.log").read_text()[-3000:])
        assert all(r["text"] for r in turn["responses"])
    finally:
        stack.stop()
