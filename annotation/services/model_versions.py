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


def model_version_from_gguf(
    *, gguf_path: str, name: str, current: bool = False, stage=None
) -> tuple[ModelVersion, bool]:
    """Convert a GGUF file into MODEL_DIR/<name> (a Hugging Face directory) and register it as a policy.

    Idempotent: a version of that name converted from the same file (same SHA-256) is returned as it
    is, with False. A name already taken by anything else, a missing file, a non-GGUF file or an
    architecture transformers cannot read is refused with a ValidationError.
    """
    from django.conf import settings

    from reward_training.generation.gguf import GGUFError, gguf_convert

    existing = ModelVersion.objects.filter(name=name).first()
    if existing is not None and not (Path(existing.path) / "gguf_source.json").is_file():
        raise ValidationError({"name": [f"a model version named {name!r} already exists and was not converted from GGUF"]})
    try:
        provenance = gguf_convert(gguf_path, Path(settings.MODEL_DIR) / name, stage=stage)
    except GGUFError as error:
        raise ValidationError({"gguf": [str(error)]}) from error
    if existing is not None:
        if existing.lineage.get("gguf_sha256") != provenance["sha256"]:
            raise ValidationError({"name": [f"{name!r} was converted from another GGUF file; choose another --name"]})
        if current and not existing.is_current:
            model_version_set_current(version=existing)
        return existing, False
    lineage = {"source": f"converted from GGUF {provenance['source']}", "gguf_sha256": provenance["sha256"],
               "architecture": provenance["architecture"], "parameters": provenance["parameters"]}
    version = model_version_register(name=name, kind=ModelVersion.Kind.POLICY, path=str(Path(settings.MODEL_DIR) / name),
                                     lineage=lineage, current=current)
    return version, True
