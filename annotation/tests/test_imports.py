import gzip
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

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


def test_all_hh_harmless_rows_import_unrated_and_reimport_adds_nothing(hh_file):
    first = preferences_import(path=hh_file, format="hh-rlhf", source="anthropic-hh-harmless", track="safety")
    assert first == {"read": 1800, "imported": 1800, "duplicates": 0}
    assert ImportedPair.objects.filter(strength__isnull=True, source="anthropic-hh-harmless").count() == 1800
    again = preferences_import(path=hh_file, format="hh-rlhf", source="anthropic-hh-harmless", track="safety")
    assert again["imported"] == 0 and ImportedPair.objects.count() == 1800
    assert ImportedPair.objects.filter(chosen="").count() == 3  # three rows have an empty chosen reply


def test_plain_jsonl_and_replies_that_mention_assistant(tmp_path):
    history = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: quote me"
    row = {"chosen": history + "\n\nAssistant: He said Assistant: yes", "rejected": history + "\n\nAssistant:"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    preferences_import(path=path, format="hh-rlhf", source="tiny", track="helpfulness")
    pair = ImportedPair.objects.get()
    assert pair.prompt == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                           {"role": "user", "content": "quote me"}]
    assert pair.chosen == "He said Assistant: yes" and pair.rejected == ""


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
    row = {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
           "rejected": [{"role": "assistant", "content": "5"}], "strength": "better"}
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "strength": "bogus"}) + "\n")
    with pytest.raises(ValidationError, match="line 2"):
        preferences_import(path=path, format="trl", source="mine", track="helpfulness")
    path.write_text(json.dumps(row) + "\n")
    assert preferences_import(path=path, format="trl", source="mine", track="helpfulness")["imported"] == 1
    assert ImportedPair.objects.get().strength == "better"
