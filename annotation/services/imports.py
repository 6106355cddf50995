"""Importing open-source preference pairs in any format of reward_training.data.formats (HH, TRL, binarized
message lists, SHP, OpenAssistant trees, HelpSteer scores, RewardBench), or "auto" to detect it."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import ImportedPair, Track
from annotation.selectors.exports import pair_hash
from reward_training.data.files import LineTooLong
from reward_training.data.formats import FORMATS as READ_FORMATS
from reward_training.data.formats import FormatOptions, pairs_read
from reward_training.data.formats.helpsteer import ATTRIBUTES
from reward_training.data.preferences import PreferencePair

FORMATS = (*READ_FORMATS, "auto")


def preferences_import(
    *,
    path: str | Path,
    format: str,
    source: str,
    track: str,
    skip_empty: bool = False,
    max_line_bytes: int | None = None,
    max_field_chars: int | None = None,
    progress=None,
    options: FormatOptions = FormatOptions(),
) -> dict:
    """Import a whole file atomically: a malformed line (or row) rejects it all, naming it.

    The file may be JSONL, a JSON array or Parquet; `format="auto"` detects the format from the first
    row, and the result says which one was read ("format") and why ("detected"). `options` holds the
    formats' own settings (SHP's minimum score ratio, HelpSteer's attribute, OpenAssistant's strength);
    pairs a format's filter leaves out are listed under "filtered", by reason.

    Besides the format's own rules, a line is refused when a reply is empty (or, with `skip_empty`,
    left out and counted), when it is longer than `max_line_bytes` or a text longer than
    `max_field_chars` (defaults: the IMPORT_MAX_* settings), or when a text holds what Postgres cannot
    store (a NUL character, a lone surrogate). Pairs are deduplicated by a content hash, so importing
    the same file twice adds nothing.
    """
    max_line_bytes = settings.IMPORT_MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    max_field_chars = settings.IMPORT_MAX_FIELD_CHARS if max_field_chars is None else max_field_chars
    path = Path(path)
    _arguments_check(
        path=path,
        format=format,
        source=source,
        track=track,
        options=options,
        max_line_bytes=max_line_bytes,
        max_field_chars=max_field_chars,
    )
    pairs: dict[str, ImportedPair] = {}
    read, skipped = 0, []
    try:
        stream = pairs_read(path, format, options=options, max_line_bytes=max_line_bytes)
        for number, pair in progress(stream) if progress else stream:  # whole file first: all or nothing
            read += 1
            where = f"{path.name}, {stream.unit} {number}"
            empty = [side for side in ("chosen", "rejected") if not getattr(pair, side).strip()]
            if empty and skip_empty:
                skipped.append(number)
                continue
            if empty:
                raise ValueError(
                    f"{where}: the {' and '.join(empty)} reply is empty (--skip-empty leaves such {stream.unit}s out)"
                )
            _texts_check(pair, where=where, max_field_chars=max_field_chars)
            prompt = list(pair.prompt)
            digest = pair_hash(track=track, prompt=prompt, chosen=pair.chosen, rejected=pair.rejected)
            pairs.setdefault(
                digest,
                ImportedPair(
                    source=source,
                    track=track,
                    content_hash=digest,
                    prompt=prompt,
                    chosen=pair.chosen,
                    rejected=pair.rejected,
                    strength=pair.strength,
                    safety_bin=pair.safety_bin,
                ),
            )
    except LineTooLong as error:
        raise ValidationError({"file": [f"{error} (IMPORT_MAX_LINE_BYTES sets the limit)"]}) from error
    except (ValueError, OSError) as error:
        raise ValidationError({"file": [str(error)]}) from error
    with transaction.atomic():
        existing = set(ImportedPair.objects.filter(content_hash__in=list(pairs)).values_list("content_hash", flat=True))
        new = [pair for digest, pair in pairs.items() if digest not in existing]
        # a concurrent import of the same pairs may commit first: theirs stand and ours are skipped, with no
        # error (both imports then count those pairs as imported)
        ImportedPair.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    kept = read - len(skipped)
    result = {"format": stream.format, "read": read, "imported": len(new), "duplicates": kept - len(new)}
    if format == "auto":
        result["detected"] = stream.reason
    if any(stream.filtered.values()):
        result["filtered"] = {reason: len(numbers) for reason, numbers in stream.filtered.items()}
    if skip_empty:
        result["skipped_empty"] = skipped
    return result


def _arguments_check(
    *,
    path: Path,
    format: str,
    source: str,
    track: str,
    options: FormatOptions,
    max_line_bytes: int,
    max_field_chars: int,
) -> None:
    errors = {}
    if format not in FORMATS:
        errors["format"] = [f"must be one of {', '.join(FORMATS)}"]
    elif options.min_ratio is not None and not options.min_ratio >= 1:
        errors["min_ratio"] = ["must be at least 1 (a score ratio: the preferred reply's score over the other's)"]
    if options.attribute not in ATTRIBUTES:
        errors["attribute"] = [f"must be one of {', '.join(ATTRIBUTES)}"]
    if track not in Track.values:
        errors["track"] = [f"must be one of {', '.join(Track.values)}"]
    source_length = ImportedPair._meta.get_field("source").max_length
    if not source or source == "platform":
        errors["source"] = ['name the source (not "platform", which means our own comparisons)']
    elif len(source) > source_length:
        errors["source"] = [f"at most {source_length} characters (this one has {len(source)})"]
    elif _unstorable(source):
        errors["source"] = [_unstorable(source)]
    if max_line_bytes < 1:
        errors["max_line_bytes"] = ["must be at least 1 (IMPORT_MAX_LINE_BYTES)"]
    if max_field_chars < 1:
        errors["max_field_chars"] = ["must be at least 1 (IMPORT_MAX_FIELD_CHARS)"]
    if not path.is_file():
        errors["file"] = [f"{path} does not exist"]
    if errors:
        raise ValidationError(errors)


def _texts_check(pair: PreferencePair, *, where: str, max_field_chars: int) -> None:
    """Refuse a text too long to import, or one Postgres cannot store, naming it. Raises ValueError."""
    texts = [(f"prompt message {i + 1}", message["content"]) for i, message in enumerate(pair.prompt)]
    for name, text in [*texts, ("chosen reply", pair.chosen), ("rejected reply", pair.rejected)]:
        if len(text) > max_field_chars:
            raise ValueError(
                f"{where}: the {name} has {len(text):,} characters, more than {max_field_chars:,} "
                "(IMPORT_MAX_FIELD_CHARS sets the limit)"
            )
        if problem := _unstorable(text):
            raise ValueError(f"{where}: the {name} {problem}")


def _unstorable(text: str) -> str | None:
    """Why the database cannot store this text (Postgres refuses NUL in text and jsonb), or None."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which the database cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"holds a lone surrogate (\\u{ord(text[error.start]):04x}), which is not UTF-8"
    return None
