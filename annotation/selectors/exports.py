"""The export stream: platform comparisons and imported pairs, one dict per pair (the export format of
docs/architecture.md), every row built by `export_row` so that both kinds carry the same columns.

Rows are produced lazily from database iterators, so exporting a million comparisons never holds
them all in memory. Writing them to a file is annotation.services.exports.
"""

import hashlib
import json
from typing import Iterator

from django.db.models import Prefetch

from annotation.models import Batch, Comparison, ImportedPair, Sample, Turn
from reward_training.reward.margins import margin_of

PLATFORM = "platform"
CHUNK = 500


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


def pair_hash(*, track: str | None, prompt: list[dict], chosen: str, rejected: str) -> str:
    """The pair's identity in exports and imports: the same texts on the same track hash alike, wherever they
    came from (an exported platform pair imported elsewhere keeps its hash, so it is recognised as a duplicate)."""
    payload = json.dumps([track, prompt, chosen, rejected], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def export_row(
    *,
    prompt: list[dict],
    chosen: str,
    rejected: str,
    strength: str | None,
    track: str | None,
    safety_bin: str | None,
    source: str,
    pair_hash: str,
    batch: str | None = None,
    comparison_id: int | None = None,
    chosen_model: str | None = None,
    rejected_model: str | None = None,
    chosen_sampling: dict | None = None,
    rejected_sampling: dict | None = None,
    chosen_backend: str | None = None,
    rejected_backend: str | None = None,
    annotator: str | None = None,
    review_status: str | None = None,
) -> dict:
    """One row of the export, with every column: what a source does not have (an imported pair's models,
    annotator and review) is None. The margin is that of the "small" table, 0 for an unrated pair."""
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "strength": strength,
        "margin": margin_of(strength),
        "track": track,
        "safety_bin": safety_bin,
        "source": source,
        "batch": batch,
        "comparison_id": comparison_id,
        "pair_hash": pair_hash,
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "chosen_sampling": chosen_sampling,
        "rejected_sampling": rejected_sampling,
        "chosen_backend": chosen_backend,  # which generation backend made each reply: local or openai
        "rejected_backend": rejected_backend,
        "annotator": annotator,
        "review_status": review_status,
    }


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
        yield export_row(
            prompt=prompt,
            chosen=chosen.text,
            rejected=rejected.text,
            strength=comparison.strength,
            track=dialogue.track,
            safety_bin=comparison.safety_bin,
            source=PLATFORM,
            pair_hash=pair_hash(track=dialogue.track, prompt=prompt, chosen=chosen.text, rejected=rejected.text),
            batch=dialogue.batch.name,
            comparison_id=comparison.pk,
            chosen_model=chosen.model_version.name,
            rejected_model=rejected.model_version.name,
            chosen_sampling=chosen.sampling,
            rejected_sampling=rejected.sampling,
            chosen_backend=chosen.backend,
            rejected_backend=rejected.backend,
            annotator=comparison.annotator.profile.pseudonym,
            review_status=comparison.review_status,
        )


def _imported_rows(*, sources: list[str] | None, track: str | None) -> Iterator[dict]:
    pairs = ImportedPair.objects.order_by("id")
    if sources is not None:
        pairs = pairs.filter(source__in=sources)
    if track:
        pairs = pairs.filter(track=track)
    for pair in pairs.iterator(chunk_size=CHUNK):
        yield export_row(
            prompt=pair.prompt,
            chosen=pair.chosen,
            rejected=pair.rejected,
            strength=pair.strength,
            track=pair.track,
            safety_bin=pair.safety_bin,
            source=pair.source,
            pair_hash=pair.content_hash,
        )


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
