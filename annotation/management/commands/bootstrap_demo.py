import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from annotation.management.base import JsonCommand
from annotation.models import Batch, ModelVersion, Track
from annotation.services.batches import batch_activate, batch_create
from annotation.services.model_versions import model_version_register, model_version_set_current
from annotation.services.users import user_create

DEMO_MODEL = Path(settings.BASE_DIR) / "assets" / "demo-chat"
DEMO_POLICY = "demo-chat-v0"
ACCOUNTS = [("admin", "admin", "admin"), ("annotator", "annotator", "annotator")]


class Command(JsonCommand):
    help = "Idempotent: register the built-in demo chat model as the current policy, demo accounts, a batch per track."

    def run(self, **_):
        if not (DEMO_MODEL / "config.json").is_file():
            raise CommandError(f"the built-in demo model is missing at {DEMO_MODEL}")
        version = ModelVersion.objects.filter(name=DEMO_POLICY).first()
        if version is None:
            target = Path(settings.MODEL_DIR) / DEMO_POLICY
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(DEMO_MODEL, target)
            version = model_version_register(name=DEMO_POLICY, kind="policy", path=str(target),
                                             lineage={"source": "built-in demo model (assets/demo-chat)"})
        if not ModelVersion.objects.filter(kind="policy", is_current=True).exists():
            model_version_set_current(version=version)
        User = get_user_model()
        for username, password, role in ACCOUNTS:
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=password, role=role)
        batches = []
        for track in Track.values:
            active = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
            if active is None:
                name = f"demo-{track}"
                batch = Batch.objects.filter(name=name).first() or batch_create(
                    name=name, track=track, policy_versions=[DEMO_POLICY], temperature_min=0.7,
                    temperature_max=1.2, target_comparisons=100, max_new_tokens=96,
                )
                active = batch_activate(batch=batch) if batch.status == Batch.Status.DRAFT else batch
            batches.append(active.name)
        self.stderr.write(
            "\nDemo ready on http://127.0.0.1:8000\n"
            "  annotator login: annotator / annotator\n"
            "  admin login:     admin / admin   (Django admin at /admin/)\n"
        )
        return {"url": "http://127.0.0.1:8000", "policy": version.name, "batches": batches,
                "logins": [{"username": u, "password": p, "role": r} for u, p, r in ACCOUNTS]}
