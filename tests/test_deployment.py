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
