from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Batch, ModelVersion, Track

# Bounds of a batch's settings, shared by the API's serializer and the create_batch command.
NAME_MAX_CHARS = Batch._meta.get_field("name").max_length
POLICY_VERSIONS_MAX = 16
TEMPERATURE_MAX = 5.0
MAX_NEW_TOKENS_MAX = 8192
TARGET_COMPARISONS_MAX = 1_000_000
SYSTEM_PROMPT_MAX_CHARS = 16_000


@transaction.atomic
def batch_create(
    *,
    name: str,
    track: str,
    policy_versions: list[str],
    temperature_min: float,
    temperature_max: float,
    target_comparisons: int,
    overlap_fraction: float = 0.0,
    system_prompt: str = "",
    top_p: float | None = None,
    max_new_tokens: int | None = None,
    export_policy: str = Batch.ExportPolicy.ALL,
    created_by=None,
) -> Batch:
    from django.conf import settings

    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["must not be empty"]
    elif len(name) > NAME_MAX_CHARS:
        errors["name"] = [f"must be at most {NAME_MAX_CHARS} characters"]
    elif Batch.objects.filter(name=name).exists():
        errors["name"] = [f"a batch named {name!r} already exists"]
    if track not in Track.values:
        errors["track"] = [f"must be one of {', '.join(Track.values)}"]
    versions = []
    if not policy_versions:
        errors["policy_versions"] = ["name at least one policy version"]
    elif len(policy_versions) > POLICY_VERSIONS_MAX:
        errors["policy_versions"] = [f"name at most {POLICY_VERSIONS_MAX} policy versions"]
    else:
        versions = list(ModelVersion.objects.filter(name__in=policy_versions))
        missing = sorted(set(policy_versions) - {v.name for v in versions})
        if missing:
            errors["policy_versions"] = [f"unknown model version(s): {', '.join(missing)}"]
        elif any(v.kind != ModelVersion.Kind.POLICY for v in versions):
            errors["policy_versions"] = ["only policy versions can sample"]
    if not 0 < temperature_min < TEMPERATURE_MAX:
        errors["temperature_min"] = [f"must lie in (0, {TEMPERATURE_MAX:g})"]
    if not temperature_max > temperature_min:
        errors["temperature_max"] = ["must be above temperature_min: the two samples use different temperatures"]
    elif not temperature_max <= TEMPERATURE_MAX:
        errors["temperature_max"] = [f"must be at most {TEMPERATURE_MAX:g}"]
    if not 1 <= target_comparisons <= TARGET_COMPARISONS_MAX:
        errors["target_comparisons"] = [f"must lie between 1 and {TARGET_COMPARISONS_MAX}"]
    if not 0 <= overlap_fraction <= 1:
        errors["overlap_fraction"] = ["must lie between 0 and 1"]
    top_p = settings.SAMPLING_DEFAULT_TOP_P if top_p is None else top_p
    if not 0 < top_p <= 1:
        errors["top_p"] = ["must lie in (0, 1]"]
    max_new_tokens = settings.SAMPLING_DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS_MAX:
        errors["max_new_tokens"] = [f"must lie between 1 and {MAX_NEW_TOKENS_MAX}"]
    if len(system_prompt) > SYSTEM_PROMPT_MAX_CHARS:
        errors["system_prompt"] = [f"must be at most {SYSTEM_PROMPT_MAX_CHARS} characters"]
    if export_policy not in Batch.ExportPolicy.values:
        errors["export_policy"] = [f"must be one of {', '.join(Batch.ExportPolicy.values)}"]
    if errors:
        raise ValidationError(errors)
    batch = Batch.objects.create(
        name=name,
        track=track,
        temperature_min=temperature_min,
        temperature_max=temperature_max,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        target_comparisons=target_comparisons,
        overlap_fraction=overlap_fraction,
        system_prompt=system_prompt,
        export_policy=export_policy,
        created_by=created_by,
    )
    batch.policy_versions.set(versions)
    return batch


def batch_activate(*, batch: Batch) -> Batch:
    """Open a draft batch for annotation. One batch per track is active at a time (409 otherwise)."""
    if batch.status == Batch.Status.ACTIVE:
        return batch
    if batch.status == Batch.Status.CLOSED:
        raise Conflict(f"batch {batch.name!r} is closed")
    active = Batch.objects.filter(track=batch.track, status=Batch.Status.ACTIVE).first()
    if active is not None:
        raise Conflict(f"batch {active.name!r} is already active in the {batch.track} track; close it first")
    try:
        with transaction.atomic():
            Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.ACTIVE, activated_at=timezone.now())
    except IntegrityError as error:
        raise Conflict(f"another batch became active in the {batch.track} track") from error
    batch.refresh_from_db()
    return batch


@transaction.atomic
def batch_close(*, batch: Batch) -> Batch:
    if batch.status != Batch.Status.CLOSED:
        batch.status = Batch.Status.CLOSED
        batch.closed_at = timezone.now()
        batch.save(update_fields=["status", "closed_at"])
    return batch
