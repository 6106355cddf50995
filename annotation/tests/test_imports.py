import gzip
import json
import re
import tracemalloc
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from annotation.models import ImportedPair
from annotation.services.imports import preferences_import

pytestmark = pytest.mark.django_db

HH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"
HH_IN_REPO = Path(__file__).resolve().parents[2] / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"


@pytest.fixture
def hh_file():
    path = HH_IN_REPO if HH_IN_REPO.exists() else HH
    assert path.exists(), "the HH-harmless data file is missing"
    return path


def test_hh_harmless_refuses_its_empty_replies_unless_skipped_and_reimport_adds_nothing(hh_file):
    with pytest.raises(ValidationError, match=r"line 74: the chosen reply is empty"):
        preferences_import(path=hh_file, format="hh-rlhf", source="anthropic-hh-harmless", track="safety")
    assert ImportedPair.objects.count() == 0
    first = preferences_import(
        path=hh_file, format="hh-rlhf", source="anthropic-hh-harmless", track="safety", skip_empty=True
    )
    assert first == {
        "format": "hh-rlhf",
        "read": 1800,
        "imported": 1797,
        "duplicates": 0,
        "skipped_empty": [74, 396, 725],
    }
    assert ImportedPair.objects.filter(strength__isnull=True, source="anthropic-hh-harmless").count() == 1797
    again = preferences_import(
        path=hh_file, format="hh-rlhf", source="anthropic-hh-harmless", track="safety", skip_empty=True
    )
    assert again["imported"] == 0 and ImportedPair.objects.count() == 1797
    assert ImportedPair.objects.filter(chosen="").count() == 0


def test_plain_jsonl_and_replies_that_mention_assistant(tmp_path):
    history = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: quote me"
    row = {"chosen": history + "\n\nAssistant: He said Assistant: yes", "rejected": history + "\n\nAssistant: no"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    preferences_import(path=path, format="hh-rlhf", source="tiny", track="helpfulness")
    pair = ImportedPair.objects.get()
    assert pair.prompt == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "quote me"},
    ]
    assert pair.chosen == "He said Assistant: yes" and pair.rejected == "no"


def test_a_malformed_line_rejects_the_whole_file_with_its_number(hh_file, tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    with gzip.open(hh_file, "rt") as source, gzip.open(path, "wt") as target:
        lines = source.readlines()[:10]
        lines[6] = '{"chosen": "no dialogue here"}\n'
        target.writelines(lines)
    with pytest.raises(ValidationError, match="line 7"):
        preferences_import(path=path, format="hh-rlhf", source="broken", track="safety")
    assert ImportedPair.objects.count() == 0


def test_trl_format_round_trip(tmp_path):
    row = {
        "prompt": [{"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
        "strength": "better",
    }
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "strength": "bogus"}) + "\n")
    with pytest.raises(ValidationError, match="line 2"):
        preferences_import(path=path, format="trl", source="mine", track="helpfulness")
    path.write_text(json.dumps(row) + "\n")
    assert preferences_import(path=path, format="trl", source="mine", track="helpfulness")["imported"] == 1
    assert ImportedPair.objects.get().strength == "better"


# Bad files, each refused in one line that names the line, with nothing imported (issue 13, item 4).


def _hh(chosen_reply="fine", rejected_reply="bad", question="q?"):
    history = f"\n\nHuman: {question}\n\nAssistant:"
    return json.dumps({"chosen": f"{history} {chosen_reply}", "rejected": f"{history} {rejected_reply}"})


def _trl(chosen="4", rejected="5", question="2+2?"):
    return json.dumps({"prompt": [{"role": "user", "content": question}], "chosen": chosen, "rejected": rejected})


def _good_then(bad_line: str, good=_hh) -> bytes:
    """Two good lines, then the bad one as line 3."""
    return (good(question="a?") + "\n" + good(question="b?") + "\n" + bad_line + "\n").encode()


def _import(path, format="hh-rlhf", source="bad-files", *flags):
    call_command(
        "import_preferences", str(path), "--format", format, "--source", source, "--track", "helpfulness", *flags
    )


def _refused(path, match, format="hh-rlhf", source="bad-files"):
    """The command refuses the file in one line matching `match`, and nothing is imported."""
    with pytest.raises(CommandError) as refused:
        _import(path, format, source)
    message = str(refused.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert re.search(match, message), message
    assert ImportedPair.objects.count() == 0
    return message


@pytest.mark.parametrize(
    "format, bad_line, match",
    [
        (
            "hh-rlhf",
            json.dumps({"chosen": "\n\nHuman: q?\n\nAssistant: yes", "rejected": "\n\nHuman: q?\n\nAssistant:"}),
            "line 3: the rejected reply is empty",
        ),
        (
            "hh-rlhf",
            json.dumps({"chosen": "\n\nHuman: q?\n\nAssistant:", "rejected": "\n\nHuman: q?\n\nAssistant:  \n"}),
            "line 3: the chosen and rejected reply is empty",
        ),
        ("trl", _trl(chosen=""), "line 3: the chosen reply is empty"),
        ("trl", _trl(rejected=" \n\t"), "line 3: the rejected reply is empty"),
        ("trl", _trl(chosen=[{"role": "assistant", "content": ""}]), "line 3: the chosen reply is empty"),
    ],
)
def test_an_empty_reply_is_refused_with_its_line(tmp_path, format, bad_line, match):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(bad_line, good=_trl if format == "trl" else _hh))
    _refused(path, match, format=format)


def test_skip_empty_leaves_those_lines_out_and_lists_them(tmp_path, capsys):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(_hh(chosen_reply="")))
    _import(path, "hh-rlhf", "bad-files", "--skip-empty")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["imported"] == 2 and result["skipped_empty"] == [3]
    assert ImportedPair.objects.count() == 2


def test_a_50_mb_line_is_refused_without_being_read_whole(tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(_good_then(_hh(chosen_reply="x" * (50 * 1024 * 1024))))
    tracemalloc.start()
    try:
        message = _refused(path, r"line 3: longer than 1,048,576 bytes \(IMPORT_MAX_LINE_BYTES")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{peak:,} bytes at peak for: {message}"


def test_the_line_and_field_limits_are_settings(tmp_path, settings):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(_hh(chosen_reply="y" * 300)))
    settings.IMPORT_MAX_FIELD_CHARS = 200
    _refused(path, r"line 3: the chosen reply has 300 characters, more than 200 \(IMPORT_MAX_FIELD_CHARS")
    settings.IMPORT_MAX_FIELD_CHARS, settings.IMPORT_MAX_LINE_BYTES = 100_000, 250
    _refused(path, r"line 3: longer than 250 bytes")
    settings.IMPORT_MAX_LINE_BYTES = 400  # the same file fits under looser limits
    _import(path)
    assert ImportedPair.objects.count() == 3


def test_a_truncated_gzip_is_refused_naming_the_line(tmp_path):
    whole = gzip.compress("".join(_hh(question=f"question {i}?") + "\n" for i in range(2000)).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    _refused(path, r"cut\.jsonl\.gz, line \d+: the gzip file is truncated or corrupt")


def test_a_gzip_failing_its_checksum_is_refused_naming_the_line(tmp_path):
    whole = bytearray(gzip.compress("".join(_hh(question=f"question {i}?") + "\n" for i in range(2000)).encode()))
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer: every line decompresses, the end does not check out
    path = tmp_path / "corrupt.jsonl.gz"
    path.write_bytes(bytes(whole))
    _refused(path, r"corrupt\.jsonl\.gz, line 2001: the gzip file is truncated or corrupt \(CRC check failed")


@pytest.mark.parametrize(
    "format, bad_line, match",
    [
        ("hh-rlhf", _hh(chosen_reply="a\x00b"), r"line 3: the chosen reply holds a NUL character"),
        ("trl", _trl(question="nul\x00in the prompt"), r"line 3: the prompt message 1 holds a NUL character"),
        ("trl", _trl(rejected="half a pair \ud83d"), r"line 3: the rejected reply holds a lone surrogate \(\\ud83d\)"),
    ],
)
def test_text_the_database_cannot_store_is_refused_with_its_line(tmp_path, format, bad_line, match):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(bad_line, good=_trl if format == "trl" else _hh))
    assert b"\\u0000" in path.read_bytes() or b"\\ud83d" in path.read_bytes()  # escaped: valid JSON
    _refused(path, match, format=format)


def test_a_raw_nul_byte_is_refused_with_its_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(_hh()).replace(b"bad", b"b\x00d", 3)[:-1] + b"\n")
    _refused(path, r"line 1: .*control character")


def test_non_utf8_input_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(_good_then(_hh(chosen_reply="cafe")).replace(b"cafe", "café".encode("latin-1")))
    _refused(path, r"latin1\.jsonl, line 3: not UTF-8 text \(byte \d+ of the line is 0xe9\)")


def test_a_source_longer_than_its_column_is_refused(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_good_then(_hh()))
    _refused(path, r"^source: at most 128 characters \(this one has 129\)$", source="s" * 129)
    _import(path, "hh-rlhf", "s" * 128)
    assert ImportedPair.objects.filter(source="s" * 128).count() == 3


# The open-source formats (issue 16): each fixture imported with --format auto, which says what it chose.

FIXTURES = Path(__file__).resolve().parents[2] / "reward_training" / "tests" / "data" / "fixtures"


@pytest.mark.parametrize(
    "name, format, pairs, strengths",
    [
        ("trl_standard.jsonl", "trl", 3, {"significantly_better", "slightly_better", "negligibly_better"}),
        ("trl_implicit_conversational.json", "binarized", 2, {None}),
        ("ultrafeedback_binarized.jsonl", "binarized", 2, {None}),
        ("shp.jsonl", "shp", 3, {"significantly_better", "slightly_better", "negligibly_better"}),
        ("oasst1_messages.jsonl", "oasst", 4, {"slightly_better", "better", "significantly_better"}),
        ("oasst2_trees.jsonl", "oasst", 3, {"slightly_better", "better"}),
        ("helpsteer2.jsonl", "helpsteer", 2, {"significantly_better", "slightly_better"}),
        ("rewardbench.jsonl", "rewardbench", 2, {None}),
    ],
)
def test_auto_detects_each_format_says_which_and_reimport_adds_nothing(capsys, name, format, pairs, strengths):
    _import(FIXTURES / name, "auto", "fixture")
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["format"] == format and result["imported"] == pairs and result["detected"]
    assert f"format: {format} (" in captured.err
    assert set(ImportedPair.objects.values_list("strength", flat=True)) == strengths
    _import(FIXTURES / name, "auto", "fixture")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["duplicates"] == pairs
    assert ImportedPair.objects.count() == pairs


def test_shp_min_ratio_filters_and_reports_what_it_left_out(capsys):
    _import(FIXTURES / "shp.jsonl", "shp", "shp", "--min-ratio", "2")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["imported"] == 2 and result["filtered"] == {"below_min_ratio": 1}
    assert ImportedPair.objects.filter(strength="negligibly_better").count() == 0


def test_a_bad_parquet_row_refuses_the_file_naming_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"prompt": "q1", "chosen": "a", "rejected": "b", "subset": "s"},
        {"prompt": "q2", "chosen": "a", "rejected": "", "subset": "s"},
    ]
    path = tmp_path / "bench.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    _refused(path, r"^file: bench\.parquet, row 2: the rejected reply is empty", format="auto")
    path.write_bytes(b"PAR1 not really")
    _refused(path, r"^file: bench\.parquet: cannot be read as Parquet", format="rewardbench")
