import json

import pytest

from annotation.models import Batch, Comparison, ImportedPair
from annotation.selectors.exports import preference_export_rows
from annotation.services.dialogues import turn_create
from annotation.tests.factories import DialogueFactory, UserFactory, active_batch, annotate, ready_turn

pytestmark = pytest.mark.django_db


def test_export_row_has_history_margin_models_and_sampling():
    batch = active_batch()
    batch.system_prompt = "Be kind."
    batch.save()
    dialogue = DialogueFactory(batch=batch, system_prompt="Be kind.")
    first = ready_turn(dialogue=dialogue, index=0, prompt="first question")
    annotate(first, chosen="b", strength="slightly_better")
    second = ready_turn(dialogue=dialogue, index=1, prompt="follow-up")
    annotate(second, chosen="a", strength="significantly_better")
    rows = list(preference_export_rows(batches=[batch.name]))
    assert len(rows) == 2
    row = rows[1]
    assert row["prompt"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "reply b to first question"},
        {"role": "user", "content": "follow-up"},
    ]
    assert row["chosen"] == [{"role": "assistant", "content": "reply a to follow-up"}]
    assert rows[0]["margin"] == pytest.approx(1 / 3) and row["margin"] == 1.0
    assert row["chosen_sampling"]["temperature"] == 0.8 and row["rejected_sampling"]["temperature"] == 1.1
    assert row["source"] == "platform" and row["batch"] == batch.name
    assert row["annotator"] == dialogue.annotator.profile.pseudonym != dialogue.annotator.username


def test_unsafe_chosen_and_rejected_pairs_never_export():
    batch = active_batch("safety")
    kept = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="a", a_safe=True, b_safe=False)
    annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="a", a_safe=False, b_safe=True)
    rejected = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="b", a_safe=True, b_safe=True)
    Comparison.objects.filter(pk=rejected.pk).update(review_status="rejected")
    rows = list(preference_export_rows(batches=[batch.name]))
    assert [r["comparison_id"] for r in rows] == [kept.pk]
    assert rows[0]["safety_bin"] == "chosen_safe_other_unsafe"


def test_export_policy_approved_or_trusted():
    batch = active_batch()
    Batch.objects.filter(pk=batch.pk).update(export_policy="approved_or_trusted")
    trusted = UserFactory()
    trusted.profile.trusted = True
    trusted.profile.save()
    by_trusted = annotate(ready_turn(dialogue=DialogueFactory(batch=batch, annotator=trusted)))
    pending = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)))
    approved = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)))
    Comparison.objects.filter(pk=approved.pk).update(review_status="approved")
    ids = {r["comparison_id"] for r in preference_export_rows(batches=[batch.name])}
    assert ids == {by_trusted.pk, approved.pk} and pending.pk not in ids


def test_imported_pairs_join_the_stream_with_margin_zero():
    annotate(ready_turn())
    ImportedPair.objects.create(
        source="hh",
        track="safety",
        prompt=[{"role": "user", "content": "q"}],
        chosen="c",
        rejected="r",
        content_hash="x" * 64,
    )
    rows = list(preference_export_rows())
    assert [r["source"] for r in rows] == ["platform", "hh"]
    assert rows[1]["margin"] == 0 and rows[1]["strength"] is None
    assert [r["source"] for r in preference_export_rows(sources=["hh"])] == ["hh"]
    assert [r["source"] for r in preference_export_rows(track="helpfulness")] == ["platform"]


def test_turns_still_sampling_are_not_exported():
    dialogue = DialogueFactory()
    turn_create(dialogue=dialogue, prompt="pending")
    assert list(preference_export_rows()) == []


# Export as a dataset (issue 16): Parquet and save_to_disk hold what the JSONL holds.


def _export(tmp_path, format, name):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "export_preferences", "--format", format, "--output", str(tmp_path / name), stdout=out, stderr=StringIO()
    )
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _platform_and_imported_pairs():
    annotate(ready_turn(dialogue=DialogueFactory()), chosen="b", strength="better")
    ImportedPair.objects.create(
        source="shp",
        track="helpfulness",
        prompt=[{"role": "user", "content": "q?"}],
        chosen="yes",
        rejected="no",
        strength=None,
        content_hash="h1",
    )


def test_parquet_export_loads_with_datasets_and_has_the_jsonl_columns(tmp_path):
    import datasets

    _platform_and_imported_pairs()
    _export(tmp_path, "trl", "pairs.jsonl")
    result = _export(tmp_path, "parquet", "pairs.parquet")
    assert result["pairs"] == 2 and result["by_source"] == {"platform": 1, "shp": 1}
    lines = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    loaded = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "pairs.parquet"), split="train", cache_dir=str(tmp_path / "cache")
    )
    columns = list(dict.fromkeys(key for line in lines for key in line))
    assert loaded.column_names == columns and "review_status" in columns and "pair_hash" in columns
    assert [dict(row) for row in loaded] == [{key: line.get(key) for key in columns} for line in lines]
    assert loaded[0]["margin"] == pytest.approx(2 / 3) and loaded[1]["margin"] == 0.0
    assert loaded[0]["chosen_sampling"]["temperature"] == 1.1 and loaded[1]["chosen_sampling"] is None


def test_hf_dataset_export_is_a_save_to_disk_directory(tmp_path):
    import datasets

    _platform_and_imported_pairs()
    _export(tmp_path, "hf-dataset", "pairs")
    again = _export(tmp_path, "hf-dataset", "pairs")  # replaces the directory whole
    loaded = datasets.load_from_disk(str(tmp_path / "pairs"))
    assert again["pairs"] == 2 and len(loaded) == 2
    assert loaded[1]["prompt"] == [{"role": "user", "content": "q?"}] and loaded[1]["strength"] is None
    assert loaded[0]["chosen"][0]["role"] == "assistant"


def test_an_empty_parquet_export_still_has_the_contract_columns(tmp_path):
    import pyarrow.parquet as pq

    assert _export(tmp_path, "parquet", "none.parquet")["pairs"] == 0
    table = pq.read_table(tmp_path / "none.parquet")
    assert table.num_rows == 0 and {"prompt", "chosen", "rejected", "strength", "margin"} <= set(table.column_names)


def test_platform_and_imported_rows_have_the_same_columns_and_a_pair_hash_that_survives_a_round_trip(tmp_path):
    from annotation.services.imports import preferences_import

    _platform_and_imported_pairs()
    _export(tmp_path, "trl", "pairs.jsonl")
    platform, imported = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert list(platform) == list(imported)  # one row builder: same keys, same order
    assert platform["review_status"] == "pending" and imported["review_status"] is None
    assert imported["pair_hash"] == "h1" and len(platform["pair_hash"]) == 64
    # imported elsewhere, an exported platform pair keeps its hash, so importing it twice adds nothing
    ImportedPair.objects.all().delete()
    first = preferences_import(path=tmp_path / "pairs.jsonl", format="trl", source="peer", track="helpfulness")
    again = preferences_import(path=tmp_path / "pairs.jsonl", format="trl", source="peer", track="helpfulness")
    assert first["imported"] == 2 and again["imported"] == 0
    assert platform["pair_hash"] in set(ImportedPair.objects.values_list("content_hash", flat=True))


def test_the_django_strengths_are_the_training_strengths_in_the_same_order():
    from annotation.models import Strength
    from reward_training.reward.margins import MARGIN_TABLES, STRENGTHS

    assert Strength.values == list(STRENGTHS)  # strongest first: the 1–4 keys, κ levels and chart order
    assert [MARGIN_TABLES["large"][s] for s in Strength.values] == [3.0, 2.0, 1.0, 0.0]  # Table 27
