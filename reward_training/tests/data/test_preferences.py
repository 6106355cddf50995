import gzip
import json
from pathlib import Path

import pytest

from reward_training.data.preferences import PreferencePair, preferences_read, trl_row_parse

HH_DEV = str(Path(__file__).resolve().parents[3] / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz")


def _row(**changes):
    row = {
        "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi?"}],
        "chosen": [{"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
        "strength": "better",
        "margin": 2 / 3,
        "track": "safety",
        "safety_bin": "chosen_safe_other_unsafe",
        "source": "platform",
        "batch": "week-1",
        "comparison_id": 17,
        "chosen_model": "policy-v1",
        "rejected_model": "policy-v0",
        "chosen_sampling": None,
        "rejected_sampling": None,
        "annotator": "a1",
    }
    row.update(changes)
    return row


def test_export_row_becomes_a_typed_pair_with_safe_labels():
    pair = trl_row_parse(_row())
    assert pair.prompt[-1] == {"role": "user", "content": "Hi?"}
    assert (pair.chosen, pair.rejected) == ("Hello!", "Go away.")
    assert (pair.strength, pair.track, pair.source, pair.pair_id) == ("better", "safety", "platform", "platform:17")
    assert (pair.chosen_safe, pair.rejected_safe) == (True, False)
    assert trl_row_parse(_row(safety_bin="both_unsafe")).chosen_safe is False
    assert trl_row_parse(_row(safety_bin=None, track="helpfulness")).chosen_safe is None


def test_unrated_row_has_no_strength_and_a_content_hash_id():
    pair = trl_row_parse(_row(strength=None, margin=0, comparison_id=None))
    assert pair.strength is None
    assert pair.pair_id == f"sha:{pair.content_hash}"
    assert trl_row_parse(_row(comparison_id=None)).content_hash == pair.content_hash


@pytest.mark.parametrize(
    "change",
    [
        {"strength": "much_better"},
        {"prompt": []},
        {"chosen": [{"role": "user", "content": "x"}]},
        {"safety_bin": "odd"},
    ],
)
def test_malformed_rows_are_refused_with_the_line_number(tmp_path, change):
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(_row()) + "\n" + json.dumps(_row(**change)) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        preferences_read(path, "trl")


def test_trl_file_gzipped_or_not_reads_the_same(tmp_path):
    plain, packed = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz"
    text = "".join(json.dumps(_row(comparison_id=i)) + "\n" for i in range(3))
    plain.write_text(text)
    with gzip.open(packed, "wt") as f:
        f.write(text)
    assert preferences_read(plain, "trl") == preferences_read(packed, "trl")


def test_all_hh_harmless_rows_import_as_unrated():
    pairs = preferences_read(HH_DEV, "hh-rlhf", track="safety")
    assert len(pairs) == 1800
    assert all(isinstance(p, PreferencePair) and p.strength is None for p in pairs)
    assert {p.source for p in pairs} == {"hh-rlhf"} and {p.track for p in pairs} == {"safety"}
    assert sum(1 for p in pairs if p.chosen == "") == 3
    assert all(p.prompt[-1]["role"] == "user" for p in pairs)
