from collections import Counter

import pytest

from reward_training.data.mixtures import manifest_write, mixture_build
from reward_training.data.preferences import PreferencePair


def _pairs(n, *, track, source="platform"):
    return [
        PreferencePair(
            prompt=({"role": "user", "content": f"{track} {source} {i}"},),
            chosen="a",
            rejected="b",
            track=track,
            source=source,
            pair_id=f"{track}-{source}-{i}",
        )
        for i in range(n)
    ]


DATA = (
    _pairs(100, track="helpfulness")
    + _pairs(60, track="safety")
    + _pairs(80, track="safety", source="hh")
    + _pairs(40, track="helpfulness", source="shp")
)


def _kinds(pairs):
    return Counter((p.track, p.source) for p in pairs)


def test_helpfulness_recipe_is_all_helpfulness_plus_an_equal_share_of_the_rest():
    mixture = mixture_build(DATA, "helpfulness", seed=1)
    kinds = _kinds(mixture.pairs)
    assert kinds[("helpfulness", "platform")] == 100
    assert kinds[("safety", "platform")] + kinds[("safety", "hh")] + kinds[("helpfulness", "shp")] == 100
    assert len(mixture.pairs) == len({p.pair_id for p in mixture.pairs}) == 200
    assert mixture.manifest["counts"] == {"helpfulness": 100, "safety_and_open_source": 100}


def test_helpfulness_ratio_is_a_setting():
    mixture = mixture_build(DATA, "helpfulness", helpfulness_extra_ratio=0.5, seed=1)
    assert len(mixture.pairs) == 150


def test_safety_recipe_mixes_90_10_with_helpfulness_data():
    mixture = mixture_build(DATA, "safety", seed=1)
    kinds = _kinds(mixture.pairs)
    safety = kinds[("safety", "platform")] + kinds[("safety", "hh")]
    helpful = kinds[("helpfulness", "platform")] + kinds[("helpfulness", "shp")]
    assert safety == 140
    assert helpful / (safety + helpful) == pytest.approx(0.1, abs=0.005)
    other = mixture_build(DATA, "safety", safety_helpfulness_fraction=0.3, seed=1)
    assert len(other.pairs) - 140 == 60


def test_draws_are_seeded_and_recorded(tmp_path):
    a, b, c = (mixture_build(DATA, "helpfulness", seed=s) for s in (1, 1, 2))
    assert [p.pair_id for p in a.pairs] == [p.pair_id for p in b.pairs]
    assert {p.pair_id for p in a.pairs} != {p.pair_id for p in c.pairs}
    assert [entry["id"] for entry in a.manifest["pairs"]] == [p.pair_id for p in a.pairs]
    path = manifest_write(tmp_path, a.manifest, extra={"data_files": ["x.jsonl"]})
    assert path.name == "data_manifest.json" and "x.jsonl" in path.read_text()


def test_none_recipe_keeps_every_pair_and_unknown_recipes_fail():
    assert len(mixture_build(DATA, "none").pairs) == len(DATA)
    with pytest.raises(ValueError):
        mixture_build(DATA, "both")
    with pytest.raises(ValueError, match="helpfulness data"):
        mixture_build(_pairs(5, track="safety"), "helpfulness")
