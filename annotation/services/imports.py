"""Importing open-source preference pairs (Anthropic HH, or our own export format)."""

import gzip
import hashlib
import json
from pathlib import Path
from typing import Iterator

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import ImportedPair, SafetyBin, Strength, Track
from reward_training.data.chat import messages_check
from reward_training.data.hh import hh_read

FORMATS = ("hh-rlhf", "trl")


def pair_hash(*, track: str, prompt: list[dict], chosen: str, rejected: str) -> str:
    payload = json.dumps([track, prompt, chosen, rejected], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _trl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("expected a JSON object")
                prompt = messages_check(row.get("prompt") or [])
                if not prompt or prompt[-1]["role"] != "user":
                    raise ValueError('"prompt" must be a message list ending with a user message')
                replies = []
                for side in ("chosen", "rejected"):
                    messages = messages_check(row.get(side) or [])
                    if len(messages) != 1 or messages[0]["role"] != "assistant":
                        raise ValueError(f'"{side}" must hold one assistant message')
                    replies.append(messages[0]["content"])
                strength = row.get("strength")
                if strength is not None and strength not in Strength.values:
                    raise ValueError(f'unknown strength {strength!r}')
                safety_bin = row.get("safety_bin")
                if safety_bin is not None and safety_bin not in SafetyBin.values:
                    raise ValueError(f'unknown safety_bin {safety_bin!r}')
            except (ValueError, json.JSONDecodeError) as error:
                raise ValueError(f"{path.name}, line {number}: {error}") from error
            yield number, {"prompt": prompt, "chosen": replies[0], "rejected": replies[1], "strength": strength,
                           "safety_bin": safety_bin}


def _hh_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for number, pair in hh_read(path):
        yield number, {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected, "strength": None,
                       "safety_bin": None}


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
    rows = _hh_rows(path) if format == "hh-rlhf" else _trl_rows(path)
    pairs: dict[str, ImportedPair] = {}
    read = 0
    try:
        for _, row in (progress(rows) if progress else rows):
            read += 1
            digest = pair_hash(track=track, prompt=row["prompt"], chosen=row["chosen"], rejected=row["rejected"])
            pairs.setdefault(digest, ImportedPair(source=source, track=track, content_hash=digest, **row))
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise ValidationError({"file": [str(error)]}) from error
    with transaction.atomic():
        existing = set(
            ImportedPair.objects.filter(content_hash__in=list(pairs)).values_list("content_hash", flat=True)
        )
        new = [pair for digest, pair in pairs.items() if digest not in existing]
        ImportedPair.objects.bulk_create(new, batch_size=1000)
    return {"read": read, "imported": len(new), "duplicates": read - len(new)}
