"""RewardBench-format scoring on small fixtures in each schema, with numbers worked out by hand.

The scorer used here gives each reply (its count of "good") - (its count of "bad"), so which rows
are right can be read off the fixture files."""

import json
from pathlib import Path

import pytest

from reward_training.evaluation.rewardbench import SECTION_OF, SECTIONS, SUBSET_WEIGHTS, benchmark_evaluate, rows_read

FIXTURES = Path(__file__).parent / "fixtures"


def word_score(prompts, responses):
    assert len(prompts) == len(responses)
    return [r.split().count("good") - r.split().count("bad") for r in responses]


def test_v1_accuracy_by_subset_and_section_uses_the_benchmark_weights():
    report = benchmark_evaluate(FIXTURES / "rewardbench_v1.jsonl", "rewardbench", word_score)
    assert report["n"] == 12 and report["accuracy"] == pytest.approx(8 / 12)
    subsets = report["subsets"]
    assert subsets["mt-bench-med"]["accuracy"] == 0.5 and subsets["mt-bench-med"]["section"] == "chat"
    assert subsets["donotanswer"]["accuracy"] == 0.0  # a tie is wrong
    sections = report["sections"]
    # chat: alpacaeval-easy 1.0 (weight 100), mt-bench-med 0.5 (weight 40)
    assert sections["chat"]["score"] == pytest.approx((100 * 1.0 + 40 * 0.5) / 140)
    assert sections["chat-hard"]["score"] == 0.0
    # safety: xstest-should-respond 1.0 (250), donotanswer 0.0 (136)
    assert sections["safety"]["score"] == pytest.approx(250 / 386)
    # reasoning: math-prm 1.0 counts as 984 examples against one code subset's 164 at 0.5
    assert sections["reasoning"]["score"] == pytest.approx((984 + 82) / 1148)
    assert report["score"] == pytest.approx((120 / 140 + 0 + 250 / 386 + 1066 / 1148) / 4)
    # a prior set is reported but not scored
    assert subsets["anthropic_helpful"]["section"] == "other" and report["not_scored"] == ["anthropic_helpful"]


def test_v2_counts_a_row_only_when_the_chosen_reply_beats_every_rejected_one():
    report = benchmark_evaluate(FIXTURES / "rewardbench2.jsonl", "rewardbench2", word_score)
    subsets = report["subsets"]
    assert subsets["Factuality"]["accuracy"] == 0.5  # the second row has a rejected reply above the chosen
    assert subsets["Math"]["accuracy"] == 0.0  # a rejected reply tied with the chosen one
    assert subsets["Factuality"]["chance"] == 0.25  # one chosen among four
    assert subsets["Ties"]["accuracy"] == 1.0 and subsets["Ties"]["chance"] == pytest.approx(1 / 6)
    assert report["score"] == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["chance"] == pytest.approx((0.25 * 4 + 1 / 6) / 5)


def test_a_json_array_reads_as_its_jsonl_twin(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "rewardbench_v1.jsonl").read_text().splitlines()]
    array = tmp_path / "bench.json"
    array.write_text(json.dumps(rows, indent=1))
    assert rows_read(array, "rewardbench") == rows_read(FIXTURES / "rewardbench_v1.jsonl", "rewardbench")


def test_bad_rows_are_named_in_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "subset": "shp"})
        + "\n"
        + json.dumps({"prompt": "p", "chosen": "a", "rejected": ["b"], "subset": "shp"})
        + "\n"
    )
    with pytest.raises(ValueError, match=r"^bad.jsonl, line 2: rejected: expected a string \(RewardBench v1"):
        rows_read(bad, "rewardbench")
    bad.write_text(json.dumps({"prompt": "p", "chosen": ["a"], "rejected": []}) + "\n")
    with pytest.raises(ValueError, match="^bad.jsonl, line 1: missing subset$"):
        rows_read(bad, "rewardbench2")
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="^bad.jsonl, line 1: not valid JSON"):
        rows_read(bad, "rewardbench")


def test_parquet_is_read_through_datasets_or_refused_in_one_line(tmp_path):
    path = tmp_path / "bench.parquet"
    try:
        import datasets
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(ValueError, match="reading Parquet needs the `datasets` package"):
            rows_read(path, "rewardbench")
        return
    rows = [json.loads(line) for line in (FIXTURES / "rewardbench2.jsonl").read_text().splitlines()]
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    assert rows_read(path, "rewardbench2") == rows_read(FIXTURES / "rewardbench2.jsonl", "rewardbench2")


def test_every_v1_subset_has_a_weight():
    assert set(SECTION_OF) == set(SUBSET_WEIGHTS) and len(SECTIONS) == 4
    # math-prm weighs as much as the six code subsets together (RewardBench section 4)
    assert SUBSET_WEIGHTS["math-prm"] == sum(SUBSET_WEIGHTS[s] for s in SECTIONS["reasoning"] if s.startswith("hep-"))
