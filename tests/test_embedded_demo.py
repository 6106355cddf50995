"""`make demo`'s embedded mode: SQLite, no Redis (Celery tasks run in-process), the built-in SmolLM2 chat model."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The POST returns at once (202, still sampling: the task runs on a background thread of this process, as
# under `runserver`), and the turn is polled until it is done, as the annotator's page does.
SCRIPT = """
import json, time
from rest_framework.test import APIClient
from django.contrib.auth import get_user_model
client = APIClient(SERVER_NAME="localhost")
client.force_authenticate(get_user_model().objects.get(username="annotator"))
dialogue = client.post("/api/dialogues/", {"track": "helpfulness"}, format="json").json()
posted = client.post(f"/api/dialogues/{dialogue['id']}/turns/", {"prompt": "How do I make a cup of tea?"},
                     format="json")
turn, polls, deadline = posted.json(), 0, time.time() + 300
while turn["status"] == "sampling" and time.time() < deadline:
    time.sleep(0.2)
    turn, polls = client.get(f"/api/turns/{turn['id']}/").json(), polls + 1
answer = client.post(f"/api/turns/{turn['id']}/comparison/",
                     {"chosen": "a", "strength": "better", "time_spent_ms": 900}, format="json")
print(json.dumps({"posted": [posted.status_code, posted.json()["status"]], "polls": polls, "status": turn["status"],
                  "texts": [r["text"] for r in turn["responses"]], "comparison": answer.status_code}))
"""

# A turn an earlier server process was sampling when it stopped (Ctrl-C, a reload): it is `sampling`,
# queued long ago, and no task for it exists any more.
ORPHAN = """
import datetime
from django.contrib.auth import get_user_model
from django.utils import timezone
from annotation.models import Turn
from annotation.services.dialogues import dialogue_create
dialogue = dialogue_create(annotator=get_user_model().objects.get(username="annotator"), track="helpfulness")
turn = Turn.objects.create(dialogue=dialogue, index=0, prompt="Name three colours.", status="sampling",
                           sampling_queued_at=timezone.now() - datetime.timedelta(hours=1))
print(turn.pk)
"""

# A new server process: the annotator's page polls the orphaned turn, and it gets sampled.
RESUME = """
import json, sys, time
from rest_framework.test import APIClient
from django.contrib.auth import get_user_model
client = APIClient(SERVER_NAME="localhost")
client.force_authenticate(get_user_model().objects.get(username="annotator"))
deadline = time.time() + 300
while (turn := client.get(f"/api/turns/{TURN}/").json())["status"] == "sampling" and time.time() < deadline:
    time.sleep(0.3)
print(json.dumps({"status": turn["status"], "texts": [r["text"] for r in turn["responses"]]}))
"""


def test_bootstrap_and_a_turn_without_postgres_or_redis(tmp_path, smollm2_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        MODEL_DIR=str(tmp_path / "models"),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )

    # the built-in model, converted once for the whole suite: bootstrap_demo finds the conversion and keeps it
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / smollm2_dir.name).symlink_to(smollm2_dir)

    def manage(*args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    manage("migrate", "--noinput")
    first = json.loads(manage("bootstrap_demo"))
    again = json.loads(manage("bootstrap_demo"))  # idempotent
    assert first["batches"] == again["batches"] == ["demo-helpfulness", "demo-safety"]
    assert first["policy"] == "smollm2-135m-instruct"
    assert (tmp_path / "models" / "smollm2-135m-instruct" / "config.json").is_file()
    result = json.loads(manage("shell", "-c", SCRIPT))
    assert result["posted"] == [202, "sampling"] and result["polls"] >= 1  # the request did not wait for the model
    assert result["status"] == "ready" and result["comparison"] == 201
    assert all(text.strip() for text in result["texts"]) and result["texts"][0] != result["texts"][1]

    orphan = int(manage("shell", "-c", ORPHAN))
    resumed = json.loads(manage("shell", "-c", RESUME.replace("TURN", str(orphan))))
    assert resumed["status"] == "ready" and all(text.strip() for text in resumed["texts"])


def test_with_no_database_or_redis_url_the_settings_fall_back_to_sqlite_and_eager_tasks():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    probe = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.DATABASES['default']['ENGINE'], str(settings.DATABASES['default']['NAME']), "
        "settings.CELERY_TASK_ALWAYS_EAGER]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings.main"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    engine, name, eager = json.loads(done.stdout.strip().splitlines()[-1])
    assert engine == "django.db.backends.sqlite3" and name == str(ROOT / "var" / "db.sqlite3") and eager is True
