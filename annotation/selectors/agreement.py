"""Inter-annotator agreement: small pure functions over plain Python values (no Django).

Agreement is measured on *which sample* was chosen, never on the A/B position, because the
positions of an overlap item's two samples are randomised per assignment. Callers therefore pass
canonical labels (the item's first sample is "x", its second "y", or any hashable labels).

References: Fleiss (1971) "Measuring nominal scale agreement among many raters"; Cohen (1960)
"A coefficient of agreement for nominal scales"; Cohen (1968) weighted kappa. Published human
agreement on preference data like ours is about 63–77% (Llama 2 paper, appendix A.5).

Every function returns None where the figure is undefined (too few ratings, or chance agreement
of exactly 1, where kappa is 0/0).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Hashable, Sequence

from annotation.models import Strength

Label = Hashable


def percent_agreement(items: Sequence[Sequence[Label]]) -> float | None:
    """Mean over items of the share of agreeing rater pairs: P̄ = mean_i (Σ_j n_ij(n_ij-1)) / (n_i(n_i-1)).

    `items` holds each item's ratings (one label per rater). Items with fewer than two ratings are
    ignored. With two raters per item this is the plain share of items on which they agree.
    """
    shares = []
    for ratings in items:
        n = len(ratings)
        if n < 2:
            continue
        agreeing = sum(c * (c - 1) for c in Counter(ratings).values())
        shares.append(agreeing / (n * (n - 1)))
    return sum(shares) / len(shares) if shares else None


def fleiss_kappa(items: Sequence[Sequence[Label]]) -> float | None:
    """Fleiss' κ = (P̄ - P̄e) / (1 - P̄e), for any number of raters per item (Fleiss 1971, generalised).

    P̄ is `percent_agreement`; P̄e = Σ_j p_j², where p_j is category j's share of all ratings on the
    items that count (two ratings or more). With a constant number of raters this is Fleiss' formula.
    """
    rated = [list(r) for r in items if len(r) >= 2]
    if not rated:
        return None
    observed = percent_agreement(rated)
    totals = Counter(label for ratings in rated for label in ratings)
    n = sum(totals.values())
    expected = sum((count / n) ** 2 for count in totals.values())
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def cohen_kappa(pairs: Sequence[tuple[Label, Label]]) -> float | None:
    """Cohen's κ of two raters: (p_o - p_e) / (1 - p_e), p_e from each rater's own marginals."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def weighted_kappa(pairs: Sequence[tuple[int, int]], *, levels: int, weights: str = "linear") -> float | None:
    """Cohen's weighted κ on an ordinal scale 0..levels-1: 1 - Σ w·O / Σ w·E (Cohen 1968).

    Disagreement weights are |i-j|/(levels-1) ("linear") or their square ("quadratic"); O is the
    observed joint distribution and E the product of the two raters' marginals.
    """
    n = len(pairs)
    if n == 0 or levels < 2:
        return None
    if weights not in ("linear", "quadratic"):
        raise ValueError('weights must be "linear" or "quadratic"')
    power = 1 if weights == "linear" else 2

    def weight(i: int, j: int) -> float:
        return (abs(i - j) / (levels - 1)) ** power

    observed = sum(weight(a, b) for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[i] * second[j] * weight(i, j) for i in first for j in second) / (n * n)
    if expected == 0:
        return None
    return 1 - observed / expected


def rating_pairs(items: Sequence[Sequence[Label]]) -> list[tuple[Label, Label]]:
    """Every unordered pair of ratings of each item, in both orders (a symmetric pooled table).

    Pooling pairs this way lets a two-rater statistic (weighted κ) summarise items with any number
    of raters, without favouring either member of a pair.
    """
    pairs = []
    for ratings in items:
        for a, b in combinations(ratings, 2):
            pairs += [(a, b), (b, a)]
    return pairs


# The preference as one ordinal scale, for weighted κ on strength: "first sample significantly
# better" (0) … "negligibly better" (3) | "second sample negligibly better" (4) … "significantly" (7).
PREFERENCE_LEVELS = 2 * len(Strength.values)


def preference_level(*, chose_first: bool, strength: str) -> int:
    """The 8-point ordinal level of a judgement (chose the item's first sample or not, and how strongly)."""
    rank = Strength.values.index(strength)
    return rank if chose_first else PREFERENCE_LEVELS - 1 - rank


def pairwise_kappas(ratings: dict[Hashable, dict[Hashable, Label]], *, min_shared: int = 2) -> list[dict]:
    """Cohen's κ and raw agreement of every pair of raters that shared at least `min_shared` items.

    `ratings` maps item -> {rater: label}. Rows are sorted by rater pair.
    """
    by_rater: dict[Hashable, dict[Hashable, Label]] = {}
    for item, votes in ratings.items():
        for rater, label in votes.items():
            by_rater.setdefault(rater, {})[item] = label
    rows = []
    for first, second in combinations(sorted(by_rater, key=str), 2):
        shared = sorted(set(by_rater[first]) & set(by_rater[second]), key=str)
        if len(shared) < min_shared:
            continue
        pairs = [(by_rater[first][i], by_rater[second][i]) for i in shared]
        rows.append(
            {
                "a": first,
                "b": second,
                "n": len(pairs),
                "agreement": sum(1 for x, y in pairs if x == y) / len(pairs),
                "kappa": cohen_kappa(pairs),
            }
        )
    return rows
