from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from annotation.management.base import JsonCommand, progress
from annotation.models import Batch, ModelVersion, Role, Track
from annotation.services.batches import batch_activate, batch_close, batch_create
from annotation.services.model_versions import model_version_from_gguf, model_version_set_current
from annotation.services.users import admin_grant, user_create, user_password_set
from reward_training.generation.gguf import SMOLLM2_NAME, GGUFError, smollm2_gguf_path

DEMO_POLICY = SMOLLM2_NAME
OLD_DEMO_POLICY = "demo-chat-v0"  # the demo policy of earlier releases (the 2.4M model), replaced on upgrade
# (username, password, role). Earlier releases used the username as the password, which the password rules
# now refuse: such an account is given the password below.
ACCOUNTS = [("admin", "manage-batches", "admin"), ("annotator", "compare-replies", "annotator")]
DEMO_MAX_NEW_TOKENS = 128


class Command(JsonCommand):
    help = (
        "Idempotent: convert the built-in chat model (SmolLM2-135M-Instruct, from its GGUF file) into MODEL_DIR "
        "once and register it as the current policy; demo accounts; an active batch per track."
    )

    def database_first(self, options):
        return True  # the conversion takes a minute; an unmigrated database should not wait for it

    def run(self, **_):
        try:
            gguf = smollm2_gguf_path()
        except GGUFError as error:
            raise CommandError(str(error)) from error
        with progress(total=1, desc=f"built-in chat model {DEMO_POLICY}", unit="model") as bar:
            bar.set_postfix_str("converting from GGUF once (about a minute)")
            version, _ = model_version_from_gguf(gguf_path=str(gguf), name=DEMO_POLICY)
            bar.update(1)
        current = ModelVersion.objects.filter(kind="policy", is_current=True).first()
        if current is None or current.name == OLD_DEMO_POLICY:  # a database from before SmolLM2 was built in
            model_version_set_current(version=version)
        User = get_user_model()
        for username, password, role in ACCOUNTS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(username=username, password=password, role=role)
                continue
            if user.check_password(username):  # a demo account of an earlier release
                user_password_set(user=user, password=password)
            if role == Role.ADMIN and user.is_superuser:  # earlier releases made admins superusers
                admin_grant(user=user)
        batches = []
        for track in Track.values:
            active = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
            if active is not None and set(active.policy_versions.values_list("name", flat=True)) == {OLD_DEMO_POLICY}:
                batch_close(batch=active)  # it samples the 2.4M model of earlier releases
                active = None
            if active is None:
                name = (
                    f"demo-{track}"
                    if not Batch.objects.filter(name=f"demo-{track}", status=Batch.Status.CLOSED).exists()
                    else f"demo-{track}-{DEMO_POLICY}"
                )
                batch = Batch.objects.filter(name=name).first() or batch_create(
                    name=name,
                    track=track,
                    policy_versions=[DEMO_POLICY],
                    temperature_min=0.7,
                    temperature_max=1.2,
                    target_comparisons=100,
                    max_new_tokens=DEMO_MAX_NEW_TOKENS,
                )
                active = batch_activate(batch=batch) if batch.status == Batch.Status.DRAFT else batch
            batches.append(active.name)
        policies = sorted(set(ModelVersion.objects.filter(batches__name__in=batches).values_list("name", flat=True)))
        self.stderr.write(
            "\nDemo ready on http://127.0.0.1:8000\n"
            + "".join(f"  {role + ' login:':<17}{username} / {password}\n" for username, password, role in ACCOUNTS)
            + "  (Django admin at /admin/)\n"
        )
        return {
            "url": "http://127.0.0.1:8000",
            "policy": version.name,
            "batches": batches,
            "sampling_from": policies,
            "logins": [{"username": u, "password": p, "role": r} for u, p, r in ACCOUNTS],
        }
