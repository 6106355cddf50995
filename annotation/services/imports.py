"""Importing open-source preference pairs (Anthropic HH, or our own export format)."""

import hashlib
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import ImportedPair, Track
from reward_training.data.preferences import preferences_read

FORMATS = ("hh-rlhf", "trl")


def pair_hash(*, track: str, prompt: list[dict], chosen: str, rejected: str) -> str:
    payload = json.dumps([track, prompt, chosen, rejected], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def preferences_import(*, path: str | Path, format: str, source: str, track: str, progress=None) -> dict:
    """Import a whole file atomically: a malformed line rejects it all, naming the line.

    Pairs are deduplicated by a content hash, so importing the same file twice adds nothing.
    """
    errors = {}
    if format not in FORMATS:
        errors["format"] = [f"must be one of {', '.join(FORMATS)}"]
    if track not in Track.values:
        errors["track"] = [f"must be one of {', '.join(Track.values)}"]
    if not source or source == "platform":
        errors["source"] = ['name the source (not "platform", which means our own comparisons)']
    path = Path(path)
    if not path.is_file():
        errors["file"] = [f"{path} does not exist"]
    if errors:
        raise ValidationError(errors)
    try:
        read = preferences_read(path, format, source=source, track=track)  # whole file first: all or nothing
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise ValidationError({"file": [str(error)]}) from error
    pairs: dict[str, ImportedPair] = {}
    for pair in progress(read) if progress else read:
        prompt = list(pair.prompt)
        digest = pair_hash(track=track, prompt=prompt, chosen=pair.chosen, rejected=pair.rejected)
        pairs.setdefault(digest, ImportedPair(source=source, track=track, content_hash=digest, prompt=prompt,
                                              chosen=pair.chosen, rejected=pair.rejected, strength=pair.strength,
                                              safety_bin=pair.safety_bin))
    with transaction.atomic():
        existing = set(
            ImportedPair.objects.filter(content_hash__in=list(pairs)).values_list("content_hash", flat=True)
        )
        new = [pair for digest, pair in pairs.items() if digest not in existing]
        # a concurrent import of the same pairs may commit first: theirs stand and ours are skipped, with no
        # error (both imports then count those pairs as imported)
        ImportedPair.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return {"read": len(read), "imported": len(new), "duplicates": len(read) - len(new)}
