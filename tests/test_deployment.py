"""The production topology as docker-compose.yml declares it (no Docker engine runs in CI)."""

from pathlib import Path

import pytest
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


def test_ci_lints_first_through_make_which_builds_the_venv():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("make lint") < script.index("make demo")
    makefile = (ROOT / "Makefile").read_text()
    assert "lint: $(STAMP)\n\t$(PY) -m ruff check .\n\t$(PY) -m ruff format --check .\n" in makefile


def test_the_published_schema_validates_without_warnings(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.main"}
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
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


def _manage(*args, **env_overrides):
    import os
    import subprocess
    import sys

    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings.main", DJANGO_DEBUG="0", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_check_deploy_is_clean_under_the_tls_switch_with_a_real_key():
    import secrets

    done = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECURE="1",
        REDIS_URL="redis://127.0.0.1:6379/13",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="rlhf.example.org",
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "System check identified no issues" in done.stdout


def test_without_the_tls_switch_check_deploy_names_what_is_missing():
    import secrets

    done = _manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert done.returncode != 0 and "security.W004" in done.stderr and "security.W008" in done.stderr


@pytest.mark.parametrize("key", ["test-secret-key", "x" * 60, "django-insecure-" + "abcdefghij" * 5])
def test_a_weak_secret_key_is_refused_in_one_line_with_debug_off_sqlite_included(key, tmp_path):
    done = _manage("check", DJANGO_SECRET_KEY=key, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1 and "DJANGO_SECRET_KEY is too weak" in lines[0], done.stderr


def test_the_embedded_demo_needs_no_key_and_keeps_a_strong_one_in_var():
    done = _manage("shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    assert done.returncode == 0, done.stderr[-2000:]
    key = done.stdout.strip()
    assert len(key) >= 50 and len(set(key)) >= 5
    assert (ROOT / "var" / "secret_key").read_text().strip() == key
    assert (
        _manage(
            "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECRET_KEY)"
        ).stdout.strip()
        == key
    )


def test_the_tls_switch_redirects_to_https_but_not_the_health_probe():
    from django.test import Client, override_settings

    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=[r"^healthz$"]):
        client = Client()
        assert client.get("/login/").status_code == 301
        assert client.get("/healthz").status_code != 301
