from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import ModelVersion, Track


@transaction.atomic
def model_version_register(
    *,
    name: str,
    kind: str,
    path: str,
    track: str = "",
    parent: ModelVersion | None = None,
    lineage: dict | None = None,
    metrics: dict | None = None,
    current: bool = False,
) -> ModelVersion:
    """Add a policy or reward checkpoint to the registry; optionally make it current."""
    errors = {}
    if kind not in ModelVersion.Kind.values:
        errors["kind"] = [f"must be one of {', '.join(ModelVersion.Kind.values)}"]
    if kind == ModelVersion.Kind.REWARD and track not in Track.values:
        errors["track"] = ["a reward model needs --track helpfulness or safety"]
    if kind == ModelVersion.Kind.POLICY and track:
        errors["track"] = ["a policy has no track"]
    if not name:
        errors["name"] = ["must not be empty"]
    elif ModelVersion.objects.filter(name=name).exists():
        errors["name"] = [f"a model version named {name!r} already exists"]
    resolved = Path(path).expanduser().resolve()
    if not (resolved / "config.json").is_file():
        errors["path"] = [f"{path} is not a Hugging Face model directory (no config.json)"]
    if errors:
        raise ValidationError(errors)
    version = ModelVersion.objects.create(
        name=name,
        kind=kind,
        track=track if kind == ModelVersion.Kind.REWARD else "",
        path=str(resolved),
        parent=parent,
        lineage=lineage or {},
        metrics=metrics or {},
    )
    if current:
        model_version_set_current(version=version)
    return version


@transaction.atomic
def model_version_set_current(*, version: ModelVersion) -> ModelVersion:
    """Make a version the current one of its (kind, track): promotion and rollback alike."""
    ModelVersion.objects.select_for_update().filter(kind=version.kind, track=version.track, is_current=True).exclude(
        pk=version.pk
    ).update(is_current=False)
    version.is_current = True
    version.save(update_fields=["is_current"])
    return version
