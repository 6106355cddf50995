"""A policy served by a live `transformers serve`, sampled through gunicorn, a Celery worker, Postgres and Redis.

Nothing is mocked: the server is transformers' own OpenAI-compatible server on 127.0.0.1, loading a tiny
local model offline; the platform knows it only as `register_model --endpoint URL --served-name NAME`.
"""

import pytest

from tests.e2e.stack import Stack
from tests.serving import TransformersServe, served_model_save

pytestmark = pytest.mark.e2e
REDIS_DB = 13  # this module's own: no other stack takes its tasks (or flushes its queue)
RETRY_BUDGET_S = 8  # the worker retries a server that is down for about this long (1, 2, 4, 5 s), then fails


def test_a_turn_is_sampled_by_a_model_server_and_a_server_outage_fails_it_until_retried(tmp_path):
    server = TransformersServe(served_model_save(tmp_path / "served-chat"), log=tmp_path / "serve.log").start()
    stack = Stack(tmp_path, redis_db=REDIS_DB, worker_env={"SAMPLING_RETRY_BUDGET_S": str(RETRY_BUDGET_S)})
    try:
        stack.start()
        stack.worker_start()
        registered = stack.manage(
            "register_model",
            "--kind",
            "policy",
            "--name",
            "served",
            "--endpoint",
            server.url,
            "--served-name",
            server.served_name,
            "--current",
        )
        assert registered["backend"] == "openai" and registered["endpoint"] == server.url
        stack.manage("create_user", "--username", "ann", "--password", "ann-pw-12345", "--role", "annotator")
        stack.batch_open("week-1", policy="served", temperatures="0.7,1.2", target=5, max_new_tokens=16)
        ann, dialogue_id = stack.dialogue_begin("ann", "ann-pw-12345")

        # given a live server, when a turn is asked for, then it is ready with two different replies
        turn = ann.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "Tell me about the sea."}).json()
        turn = ann.turn_wait(turn["id"], timeout=180)
        assert turn["status"] == "ready", (turn.get("error"), stack.worker_log()[-4000:])
        texts = [r["text"] for r in turn["responses"]]
        assert len(texts) == 2 and texts[0] != texts[1]
        rows = stack.sql(
            "SELECT s.backend, s.seed, s.completion_tokens FROM annotation_sample s WHERE s.turn_id = %s", turn["id"]
        )
        assert [r[0] for r in rows] == ["openai", "openai"] and all(0 < r[2] <= 16 for r in rows)
        assert "POST /v1/chat/completions" in (tmp_path / "serve.log").read_text()

        # given the server is down, the turn fails after the retries, with a reason that says so
        answer = ann.post(
            f"/api/turns/{turn['id']}/comparison/", {"chosen": "a", "strength": "better", "time_spent_ms": 900}
        )
        assert answer.status_code == 201, answer.text
        server.stop()
        second = ann.post(f"/api/dialogues/{dialogue_id}/turns/", {"prompt": "And the wind?"}).json()
        failed = ann.turn_wait(second["id"], timeout=120)
        assert failed["status"] == "failed", (failed.get("error"), stack.worker_log()[-4000:])
        assert f"the model server at {server.url} did not answer" in failed["error"]
        assert "retry the turn once the server is up" in failed["error"]
        assert stack.sql("SELECT count(*) FROM annotation_sample WHERE turn_id = %s", second["id"]) == [(0,)]

        # when the server is back and the turn is retried, it is sampled; nothing before it was lost
        server.start()
        assert ann.post(f"/api/turns/{second['id']}/retry/").status_code in (200, 202)
        retried = ann.turn_wait(second["id"], timeout=180)
        assert retried["status"] == "ready" and len(retried["responses"]) == 2, (
            retried.get("error"),
            stack.worker_log()[-4000:],
        )
        first_again = ann.get(f"/api/turns/{turn['id']}/").json()
        assert [r["text"] for r in first_again["responses"]] == texts
    finally:
        stack.stop()
        server.stop()
