from django.core.exceptions import ValidationError

from annotation.models import ModelVersion


def model_version_list(*, kind: str | None = None):
    versions = ModelVersion.objects.select_related("parent").order_by("created_at", "id")
    return versions.filter(kind=kind) if kind else versions


def model_version_get(*, name: str) -> ModelVersion:
    version = ModelVersion.objects.filter(name=name).first()
    if version is None:
        raise ValidationError({"name": [f"no model version named {name!r}"]})
    return version


def model_version_current(*, kind: str, track: str = "") -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, track=track, is_current=True).first()


def model_describe_or_none(version: ModelVersion | None) -> dict | None:
    return model_version_describe(version) if version is not None else None


def model_version_describe(version: ModelVersion) -> dict:
    """The `list_models` view of a version."""
    return {
        "name": version.name,
        "kind": version.kind,
        "track": version.track or None,
        "parent": version.parent.name if version.parent else None,
        "current": version.is_current,
        "created": version.created_at.isoformat(),
        "path": version.path,
        "backend": version.backend,
        "endpoint": version.endpoint_url or None,
        "served_name": version.served_name or None,
        "lineage": version.lineage,
    }


def model_path_resolve(name_or_path: str, *, field: str = "model") -> tuple[str, ModelVersion | None]:
    """A Hugging Face model directory given directly (the registry is not read), or a registered version's path."""
    from pathlib import Path

    if (Path(name_or_path) / "config.json").is_file():
        return str(Path(name_or_path).resolve()), None
    version = ModelVersion.objects.filter(name=name_or_path).first()
    if version is not None:
        return version.path, version
    raise ValidationError({field: [f"{name_or_path!r} is neither a registered model version nor a model directory"]})


def policy_and_reward_models_resolve(
    policy: str, helpfulness_rm: str, safety_rm: str
) -> tuple[str, ModelVersion | None, str, str]:
    """(policy path, policy version or None, helpfulness RM path, safety RM path), each by model_path_resolve;
    an unknown one is a ValidationError on its field (policy, helpfulness_rm, safety_rm)."""
    policy_path, policy_version = model_path_resolve(policy, field="policy")
    helpfulness_path, _ = model_path_resolve(helpfulness_rm, field="helpfulness_rm")
    safety_path, _ = model_path_resolve(safety_rm, field="safety_rm")
    return policy_path, policy_version, helpfulness_path, safety_path
