"""The export stream: platform comparisons and imported pairs, one dict per pair (the export format of
docs/architecture.md).

Rows are produced lazily from database iterators, so exporting a million comparisons never holds
them all in memory.
"""

from pathlib import Path
from typing import Iterable, Iterator

from django.db.models import Prefetch

from annotation.models import Batch, Comparison, ImportedPair, Sample, Turn
from reward_training.data.tables import dataset_save, parquet_write, rows_table
from reward_training.io import jsonl_write_atomic
from reward_training.reward.margins import margin_of

PLATFORM = "platform"
CHUNK = 500
# "trl": JSONL, one row a line; "parquet": one Parquet file; "hf-dataset": a datasets save_to_disk directory.
# All three hold the same columns.
EXPORT_FORMATS = ("trl", "parquet", "hf-dataset")


def _included(comparison: Comparison, batch: Batch) -> bool:
    """The review setting of the batch; a chosen-unsafe pair never exports, approved or not."""
    if comparison.unsafe_chosen or comparison.review_status == Comparison.Review.REJECTED:
        return False
    if batch.export_policy == Batch.ExportPolicy.APPROVED:
        return comparison.review_status == Comparison.Review.APPROVED
    if batch.export_policy == Batch.ExportPolicy.APPROVED_OR_TRUSTED:
        profile = getattr(comparison.annotator, "profile", None)
        return comparison.review_status == Comparison.Review.APPROVED or bool(profile and profile.trusted)
    return True


def _platform_rows(*, batches: list[str] | None, track: str | None) -> Iterator[dict]:
    turns = (
        Turn.objects.filter(status=Turn.Status.ANNOTATED)
        .select_related("dialogue__batch", "comparison__annotator__profile")
        .prefetch_related(Prefetch("samples", queryset=Sample.objects.select_related("model_version")))
        .order_by("dialogue_id", "index")
    )
    if batches is not None:
        turns = turns.filter(dialogue__batch__name__in=batches)
    if track:
        turns = turns.filter(dialogue__track=track)
    dialogue_id, history = None, []
    for turn in turns.iterator(chunk_size=CHUNK):
        dialogue = turn.dialogue
        if dialogue.pk != dialogue_id:
            dialogue_id = dialogue.pk
            history = [{"role": "system", "content": dialogue.system_prompt}] if dialogue.system_prompt else []
        comparison = turn.comparison
        samples = {s.label: s for s in turn.samples.all()}
        chosen = samples[comparison.chosen]
        rejected = samples["b" if comparison.chosen == "a" else "a"]
        prompt = [*history, {"role": "user", "content": turn.prompt}]
        history = [*prompt, {"role": "assistant", "content": chosen.text}]
        if not _included(comparison, dialogue.batch):
            continue
        yield {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": chosen.text}],
            "rejected": [{"role": "assistant", "content": rejected.text}],
            "strength": comparison.strength,
            "margin": margin_of(comparison.strength),
            "track": dialogue.track,
            "safety_bin": comparison.safety_bin,
            "source": PLATFORM,
            "batch": dialogue.batch.name,
            "comparison_id": comparison.pk,
            "chosen_model": chosen.model_version.name,
            "rejected_model": rejected.model_version.name,
            "chosen_sampling": chosen.sampling,
            "rejected_sampling": rejected.sampling,
            "chosen_backend": chosen.backend,  # which generation backend made each reply: local or openai
            "rejected_backend": rejected.backend,
            "annotator": comparison.annotator.profile.pseudonym,
            "review_status": comparison.review_status,
        }


def _imported_rows(*, sources: list[str] | None, track: str | None) -> Iterator[dict]:
    pairs = ImportedPair.objects.order_by("id")
    if sources is not None:
        pairs = pairs.filter(source__in=sources)
    if track:
        pairs = pairs.filter(track=track)
    for pair in pairs.iterator(chunk_size=CHUNK):
        yield {
            "prompt": pair.prompt,
            "chosen": [{"role": "assistant", "content": pair.chosen}],
            "rejected": [{"role": "assistant", "content": pair.rejected}],
            "strength": pair.strength,
            "margin": margin_of(pair.strength),
            "track": pair.track,
            "safety_bin": pair.safety_bin,
            "source": pair.source,
            "batch": None,
            "comparison_id": None,
            "pair_hash": pair.content_hash,
            "chosen_model": None,
            "rejected_model": None,
            "chosen_sampling": None,
            "rejected_sampling": None,
            "chosen_backend": None,
            "rejected_backend": None,
            "annotator": None,
        }


def preference_export_rows(
    *, batches: list[str] | None = None, track: str | None = None, sources: list[str] | None = None
) -> Iterator[dict]:
    """Rows of the export. With `batches`, only those batches' comparisons (plus `sources` if named);
    with `sources`, only those sources ("platform" is our own comparisons); with neither, everything."""
    platform = sources is None or PLATFORM in sources
    imported_sources = None if sources is None else [s for s in sources if s != PLATFORM]
    if platform:
        yield from _platform_rows(batches=batches, track=track)
    if (batches is None or sources is not None) and (imported_sources is None or imported_sources):
        yield from _imported_rows(sources=imported_sources, track=track)


def preference_export_write(path: Path, rows: Iterable[dict], *, format: str = "trl") -> dict[str, int]:
    """Write export rows to `path` in `format` (EXPORT_FORMATS), atomically (a partial file never has the
    final name); returns how many pairs each source gave."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    counts: dict[str, int] = {}

    def counted(rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            counts[row["source"]] = counts.get(row["source"], 0) + 1
            yield row

    if format == "parquet":
        parquet_write(rows_table(counted(rows)), path)
    elif format == "hf-dataset":
        dataset_save(rows_table(counted(rows)), path)
    else:
        jsonl_write_atomic(path, counted(rows))
    return counts
