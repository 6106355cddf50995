"""The agreement maths against values computed by hand (and Fleiss' published example)."""

import pytest

from annotation.selectors.agreement import (
    cohen_kappa,
    fleiss_kappa,
    pairwise_kappas,
    percent_agreement,
    preference_level,
    rating_pairs,
    weighted_kappa,
)


def test_percent_agreement_is_the_mean_share_of_agreeing_pairs():
    # item 1: all 3 pairs agree (1); item 2: 1 of 3 pairs (1/3); item 3: 0 of 1; single ratings are ignored
    items = [["x", "x", "x"], ["x", "x", "y"], ["x", "y"], ["x"]]
    assert percent_agreement(items) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert percent_agreement([["x"], []]) is None


def test_fleiss_kappa_by_hand():
    # P̄ = (1 + 1/3 + 1 + 1/3) / 4 = 2/3; x and y each half of the ratings, so P̄e = 1/2; κ = (2/3-1/2)/(1/2) = 1/3
    items = [["x", "x", "x"], ["x", "x", "y"], ["y", "y", "y"], ["x", "y", "y"]]
    assert fleiss_kappa(items) == pytest.approx(1 / 3)


def test_fleiss_kappa_matches_the_published_example():
    # Fleiss (1971) / the textbook table: 10 subjects, 14 raters, 5 categories -> κ = 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    items = [[category for category, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(items) == pytest.approx(0.2099, abs=1e-4)
    assert percent_agreement(items) == pytest.approx(0.3780, abs=1e-4)


def test_kappas_are_undefined_when_everyone_always_says_the_same():
    assert fleiss_kappa([["x", "x"], ["x", "x"]]) is None
    assert cohen_kappa([("x", "x"), ("x", "x")]) is None


def test_cohen_kappa_by_hand():
    # agree on 4 of 6 (p_o = 2/3); rater 1 says x 4 times, rater 2 twice: p_e = (4*2 + 2*4)/36 = 4/9; κ = 0.4
    pairs = [("x", "x"), ("x", "y"), ("y", "y"), ("y", "y"), ("x", "x"), ("x", "y")]
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("x", "x"), ("y", "y")]) == pytest.approx(1.0)
    assert cohen_kappa([("x", "y"), ("y", "x")]) == pytest.approx(-1.0)


def test_weighted_kappa_by_hand():
    # linear weights |i-j|/2 on 3 levels: observed mean weight 0.25, expected 8/16 = 0.5 -> κw = 0.5
    pairs = [(0, 0), (1, 2), (2, 2), (0, 1)]
    assert weighted_kappa(pairs, levels=3) == pytest.approx(0.5)
    # quadratic: observed (0 + .25 + 0 + .25)/4 = 0.125; expected (0+.25*2+4 + .25+0+.25*2 + 1+.25+0)/16 = 0.40625
    assert weighted_kappa(pairs, levels=3, weights="quadratic") == pytest.approx(1 - 0.125 / 0.40625)


def test_preference_levels_and_pooled_pairs():
    assert preference_level(chose_first=True, strength="significantly_better") == 0
    assert preference_level(chose_first=True, strength="negligibly_better") == 3
    assert preference_level(chose_first=False, strength="negligibly_better") == 4
    assert preference_level(chose_first=False, strength="significantly_better") == 7
    assert sorted(rating_pairs([[1, 2, 3]])) == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]


def test_pairwise_kappas_use_only_shared_items():
    ratings = {1: {"ann": "x", "bob": "x", "cy": "y"}, 2: {"ann": "y", "bob": "y"}, 3: {"ann": "x", "cy": "x"}}
    rows = {(r["a"], r["b"]): r for r in pairwise_kappas(ratings)}
    assert rows[("ann", "bob")]["n"] == 2 and rows[("ann", "bob")]["agreement"] == 1.0
    assert rows[("ann", "bob")]["kappa"] == pytest.approx(1.0)
    assert rows[("ann", "cy")]["agreement"] == 0.5
    assert ("bob", "cy") not in rows  # one shared item only
