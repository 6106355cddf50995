import re
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import GenerationBackend, ModelVersion, Track


def model_version_backend_errors(*, kind: str, path: str, endpoint_url: str, served_name: str) -> dict[str, list[str]]:
    """Where its samples come from: a local directory, or an OpenAI-compatible server (with a path beside it or not)."""
    errors = {}
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["endpoint"] = [f"{endpoint_url} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)"]
        if not served_name:
            errors["served_name"] = ["an endpoint needs --served-name, the model name the server serves"]
        if kind != ModelVersion.Kind.POLICY:
            errors["endpoint"] = ["only a policy can be served from an endpoint; reward models score in-process"]
    elif served_name:
        errors["served_name"] = ["--served-name goes with --endpoint"]
    elif not path:
        errors["path"] = ["give --path (a local model directory) or --endpoint and --served-name (a model server)"]
    if path and not (Path(path).expanduser().resolve() / "config.json").is_file():
        errors["path"] = [f"{path} is not a Hugging Face model directory (no config.json)"]
    return errors


@transaction.atomic
def model_version_register(
    *,
    name: str,
    kind: str,
    path: str = "",
    endpoint_url: str = "",
    served_name: str = "",
    track: str = "",
    parent: ModelVersion | None = None,
    lineage: dict | None = None,
    metrics: dict | None = None,
    current: bool = False,
) -> ModelVersion:
    """Add a policy or reward checkpoint to the registry; optionally make it current.

    With `endpoint_url` and `served_name` a policy is sampled by that OpenAI-compatible server (the
    openai backend); `path`, then optional, says where its weights are for training from it."""
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
    errors.update(
        model_version_backend_errors(kind=kind, path=path, endpoint_url=endpoint_url, served_name=served_name)
    )
    if errors:
        raise ValidationError(errors)
    version = ModelVersion.objects.create(
        name=name,
        kind=kind,
        track=track if kind == ModelVersion.Kind.REWARD else "",
        path=str(Path(path).expanduser().resolve()) if path else "",
        backend=GenerationBackend.OPENAI if endpoint_url else GenerationBackend.LOCAL,
        endpoint_url=endpoint_url.rstrip("/"),
        served_name=served_name,
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


MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # also a folder name in MODEL_DIR


def model_version_from_gguf(
    *, gguf_path: str, name: str, current: bool = False, stage=None
) -> tuple[ModelVersion, bool]:
    """Convert a GGUF file into MODEL_DIR/<name> (a Hugging Face directory) and register it as a policy.

    Idempotent: a version of that name converted from the same file (same SHA-256) is returned as it
    is, with False (its directory is converted again if it went missing). A name already taken by
    anything else, or by a conversion of another file, is refused before anything is written, as are
    a missing file, a non-GGUF file and an architecture transformers cannot read (ValidationError).
    """
    from django.conf import settings

    from reward_training.generation.gguf import GGUFError, file_sha256, gguf_architecture, gguf_convert

    if not MODEL_NAME_PATTERN.match(name):
        raise ValidationError({"name": ["use letters, digits, '.', '_' and '-' only (it names a folder in MODEL_DIR)"]})
    existing = ModelVersion.objects.filter(name=name).first()
    try:
        if existing is not None:
            if "gguf_sha256" not in existing.lineage:
                raise ValidationError(
                    {"name": [f"a model version named {name!r} already exists and was not converted from GGUF"]}
                )
            gguf_architecture(gguf_path)  # a missing or non-GGUF file is refused as such
            if file_sha256(gguf_path) != existing.lineage["gguf_sha256"]:
                raise ValidationError(
                    {"name": [f"{name!r} was converted from another GGUF file; choose another --name"]}
                )
            gguf_convert(gguf_path, existing.path, stage=stage)  # a no-op unless its directory went missing
            if current and not existing.is_current:
                model_version_set_current(version=existing)
            return existing, False
        target = Path(settings.MODEL_DIR) / name
        provenance = gguf_convert(gguf_path, target, stage=stage)
    except GGUFError as error:
        raise ValidationError({"gguf": [str(error)]}) from error
    lineage = {
        "source": f"converted from GGUF {provenance['source']}",
        "gguf_sha256": provenance["sha256"],
        "architecture": provenance["architecture"],
        "parameters": provenance["parameters"],
    }
    version = model_version_register(
        name=name, kind=ModelVersion.Kind.POLICY, path=str(target), lineage=lineage, current=current
    )
    return version, True
