from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.models import Batch, Track
from annotation.services.batches import batch_activate, batch_create


def _temperatures(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as error:
        raise ValidationError({"temperatures": ["expected LOW,HIGH, e.g. 0.7,1.2"]}) from error
    return low, high


class Command(JsonCommand):
    help = "Open a collection batch that samples from the named policy versions."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--track", required=True, choices=Track.values)
        parser.add_argument("--policy", action="append", required=True, dest="policies", help="repeatable")
        parser.add_argument("--temperatures", required=True, help="LOW,HIGH")
        parser.add_argument("--target", type=int, required=True, help="target number of comparisons")
        parser.add_argument("--overlap", type=float, default=0.0, help="overlap fraction, 0..1")
        parser.add_argument("--system-prompt", default="")
        parser.add_argument("--top-p", type=float)
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--export-policy", choices=Batch.ExportPolicy.values, default=Batch.ExportPolicy.ALL)
        parser.add_argument("--activate", action="store_true")

    def run(
        self,
        *,
        name,
        track,
        policies,
        temperatures,
        target,
        overlap,
        system_prompt,
        top_p,
        max_new_tokens,
        export_policy,
        activate,
        **_,
    ):
        low, high = _temperatures(temperatures)
        batch = batch_create(
            name=name,
            track=track,
            policy_versions=policies,
            temperature_min=low,
            temperature_max=high,
            target_comparisons=target,
            overlap_fraction=overlap,
            system_prompt=system_prompt,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            export_policy=export_policy,
        )
        if activate:
            batch = batch_activate(batch=batch)
        return {
            "id": batch.pk,
            "name": batch.name,
            "track": batch.track,
            "status": batch.status,
            "policy_versions": sorted(policies),
            "temperatures": [low, high],
            "target": target,
        }
