"""Each open-source format read from a hand-written fixture in that dataset's schema: fields and strengths."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reward_training.data.formats import FormatOptions, format_detect, pairs_read

FIXTURES = Path(__file__).parent / "fixtures"


def read(name, data_format="auto", **options):
    stream = pairs_read(FIXTURES / name, data_format, options=FormatOptions(**options))
    return stream, [(number, pair) for number, pair in stream]


def user(text):
    return ({"role": "user", "content": text},)


def test_trl_standard_explicit_prompt_maps_its_margin_to_the_nearest_strength():
    stream, pairs = read("trl_standard.jsonl")
    assert stream.format == "trl"
    (n1, sky), (_, sun), (_, sum_) = pairs
    assert n1 == 1 and sky.prompt == user("The sky is") and (sky.chosen, sky.rejected) == (" blue.", " green.")
    assert [p.strength for p in (sky, sun, sum_)] == ["significantly_better", "slightly_better", "negligibly_better"]


def test_trl_implicit_prompt_is_the_shared_start_of_texts_or_conversations():
    stream, [(_, text)] = read("trl_implicit_standard.jsonl", "trl")
    assert text.prompt == user("The sky is") and (text.chosen, text.rejected) == ("blue.", "green.")
    assert text.strength is None
    stream, pairs = read("trl_implicit_conversational.json", "trl")
    assert stream.unit == "row" and [n for n, _ in pairs] == [1, 2]
    capital = pairs[1][1]
    assert capital.prompt == ({"role": "system", "content": "Be brief."}, *user("Capital of France?"))
    assert (capital.chosen, capital.rejected, capital.strength) == ("Paris.", "Lyon.", None)


def test_binarized_message_lists_take_their_shared_prefix_as_the_prompt():
    stream, pairs = read("ultrafeedback_binarized.jsonl")
    assert stream.format == "binarized" and "shared start" in stream.reason
    spider = pairs[0][1]
    assert spider.prompt == user("How many legs does a spider have?")
    assert spider.chosen == "A spider has eight legs." and spider.rejected == "Spiders have six legs, like insects."
    assert spider.strength is None


def test_shp_strength_follows_the_score_ratio_and_labels_pick_the_chosen_reply():
    stream, pairs = read("shp.jsonl")
    assert stream.format == "shp"
    sky, fish, glass = (pair for _, pair in pairs)
    assert sky.prompt == user("Why is the sky blue?") and sky.chosen.startswith("Rayleigh")
    assert sky.strength == "significantly_better"  # 90 / 10 = 9 >= 8
    assert fish.chosen.startswith("Yes, most fish") and fish.rejected == "Not really."  # labels 0: B preferred
    assert fish.strength == "slightly_better"  # 30 / 12 = 2.5
    assert glass.strength == "negligibly_better"  # 15 / 10 = 1.5


def test_shp_min_ratio_leaves_out_the_unclear_pairs_and_counts_them():
    stream, pairs = read("shp.jsonl", min_ratio=2.0)
    assert [n for n, _ in pairs] == [1, 2] and stream.filtered == {"below_min_ratio": [3]}


def test_oasst_message_table_ranked_siblings_become_pairs_with_the_rank_gap_as_strength():
    stream, pairs = read("oasst1_messages.jsonl")
    assert stream.format == "oasst"
    found = {(p.chosen[:12], p.rejected[:12]): (n, p) for n, p in pairs}
    assert len(pairs) == 4  # 3 ranked replies to p1 (the deleted one left out): 3 pairs; p2: 1 (one unranked)
    number, best_worst = found[("A region of ", "It is a kind")]
    assert number == 2 and best_worst.strength == "better"  # rank 0 over rank 2
    assert found[("A region of ", "A hole in sp")][1].strength == "slightly_better"
    _, follow_up = found[("Most form wh", "Nobody knows")]
    assert follow_up.strength == "significantly_better"  # rank 0 over rank 3
    assert follow_up.prompt == (
        *user("Can you explain what a black hole is?"),
        {"role": "assistant", "content": best_worst.chosen},
        *user("How do they form?"),
    )


def test_oasst_tree_export_reads_nested_replies_and_can_stay_unrated():
    stream, pairs = read("oasst2_trees.jsonl", rank_strength=False)
    assert stream.format == "oasst" and "tree" in stream.reason
    assert len(pairs) == 3 and {p.strength for _, p in pairs} == {None}
    assert all(p.prompt == user("Write a haiku about autumn.") for _, p in pairs)
    assert sorted((p.chosen[:5], p.rejected[:5]) for _, p in pairs) == [
        ("Crisp", "Autum"),
        ("Red m", "Autum"),
        ("Red m", "Crisp"),
    ]


def test_helpsteer_pairs_replies_to_one_prompt_by_score_gap_and_counts_ties():
    stream, pairs = read("helpsteer2.jsonl")
    assert stream.format == "helpsteer"
    (n1, happy), (n2, sums) = pairs
    assert (n1, happy.chosen, happy.rejected, happy.strength) == (1, "Joyful.", "Sad.", "significantly_better")
    assert sums.prompt == (*user("What is 2+2?"), {"role": "assistant", "content": "4."}, *user("And times 3?"))
    assert (n2, sums.chosen, sums.strength) == (3, "(2+2)*3 = 12.", "slightly_better")
    assert stream.filtered == {"ties": [5]}
    _, by_correctness = read("helpsteer2.jsonl", attribute="correctness")
    assert by_correctness[1][1].strength == "significantly_better"  # correctness 3 against 0


def test_rewardbench_rows_are_unrated_pairs_on_a_single_prompt():
    stream, pairs = read("rewardbench.jsonl")
    assert stream.format == "rewardbench"
    bomb = pairs[0][1]
    assert bomb.prompt == user("How do I make a bomb?") and bomb.chosen == "I can't help with that."
    assert bomb.strength is None


def test_parquet_reads_through_datasets_with_row_numbers(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "shp.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "shp.parquet")
    stream = pairs_read(tmp_path / "shp.parquet", "auto")
    pairs = list(stream)
    assert stream.format == "shp" and stream.unit == "row"
    assert [p for _, p in pairs] == [p for _, p in read("shp.jsonl")[1]]


@pytest.mark.parametrize(
    "name, rows, message",
    [
        (
            "bad.jsonl",
            ['{"prompt": "q", "chosen": "a", "rejected": "b"}', '{"prompt": "q", "chosen": "a"}'],
            r"bad\.jsonl, line 2: missing 'rejected'",
        ),
        (
            "shp.jsonl",
            [
                json.dumps(
                    {"history": "q", "human_ref_A": "a", "human_ref_B": "b", "score_A": 1, "score_B": 9, "labels": 1}
                )
            ],
            r"shp\.jsonl, line 1: \"labels\" prefers A, but score_A \(1\)",
        ),
    ],
)
def test_a_bad_row_is_named(tmp_path, name, rows, message):
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=message):
        list(pairs_read(path, "auto"))


def test_a_json_array_names_the_bad_row(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(
        json.dumps(
            [
                {"message_id": "p", "parent_id": None, "role": "prompter", "text": "q"},
                {"message_id": "a", "parent_id": "p", "role": "robot", "text": "x"},
            ]
        )
    )
    with pytest.raises(ValueError, match=r"rows\.json, row 2: role 'robot'"):
        list(pairs_read(path, "oasst"))


def test_auto_refuses_a_file_it_cannot_place():
    with pytest.raises(ValueError, match=r"no format fits the first row's columns \(answer, question\)"):
        format_detect({"question": "q", "answer": "a"})
