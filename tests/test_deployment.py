"""The production topology as docker-compose.yml declares it (no Docker engine runs in CI)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_one_image_with_web_workers_beat_postgres_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "trainer", "beat"}
    app = [services[name] for name in ("web", "worker", "trainer", "beat")]
    assert len({s["image"] for s in app}) == 1
    assert "gunicorn webapp.wsgi" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A webapp worker")
    assert services["beat"]["command"].startswith("celery -A webapp beat")
    # the dashboard's jobs have a worker of their own, on the queue the web side sends them to
    assert services["trainer"]["command"].startswith("celery -A webapp worker -Q ${TRAINING_QUEUE:-training}")
    for name in ("worker", "trainer"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    for service in app:
        assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "MODEL_DIR"} <= set(service["environment"])


def test_ci_script_starts_missing_services_then_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert "pg_ctlcluster --skip-systemctl-redirect" in script and "redis-server --daemonize yes" in script
    assert script.rstrip().endswith("make test")


def test_ci_proves_the_newcomer_demo_before_the_suite():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("make demo") < script.index(".ci/demo_check.py") < script.rindex("make test")


def test_the_published_schema_validates_without_warnings(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.main"}
    done = subprocess.run([sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
                           str(tmp_path / "schema.yaml")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert "/api/turns/{turn_id}/" in schema["paths"]

    # each body is documented by its own component: no view's serializer stands in for another's
    def component(path: str, method: str = "post", status: str | None = None) -> dict:
        operation = schema["paths"][path][method]
        content = operation["responses"][status]["content"] if status else operation["requestBody"]["content"]
        ref = content["application/json"]["schema"]["$ref"]
        return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    login = {"username", "password"}
    assert set(component("/api/auth/token/")["properties"]) == login
    assert set(component("/api/auth/token/", status="200")["properties"]) == {"token"}
    batch = set(component("/api/batches/")["properties"])
    assert batch != login and {"policy_versions", "target_comparisons", "max_new_tokens"} <= batch
    comparison = set(component("/api/turns/{turn_id}/comparison/")["properties"])
    assert comparison != login and {"chosen", "strength", "a_safe", "time_spent_ms"} <= comparison
    assert set(component("/api/dialogues/{dialogue_id}/turns/")["properties"]) == {"prompt"}
    assert "review_status" in component("/api/turns/{turn_id}/comparison/", status="201")["properties"]
    # and the bounds the API enforces are published
    bounds = component("/api/batches/")["properties"]
    assert bounds["max_new_tokens"]["maximum"] == 8192 and bounds["target_comparisons"]["maximum"] == 1_000_000
