"""Preference-strength margins of the ranking loss (Llama 2 paper, Table 27).

    L = -log σ(r(x, y_chosen) - r(x, y_rejected) - m(strength))

Imported, unrated pairs (strength None) have margin 0.
"""

# Preference strength, strongest first (paper 3.2.1; Table 8 column order). The training code's one list;
# Django's is annotation.models.Strength, which a test keeps equal to it.
STRENGTHS = ("significantly_better", "better", "slightly_better", "negligibly_better")

# Table 27, one margin per strength in STRENGTHS order.
MARGIN_TABLES: dict[str, dict[str, float]] = {
    "none": dict(zip(STRENGTHS, (0.0, 0.0, 0.0, 0.0))),
    "small": dict(zip(STRENGTHS, (1.0, 2 / 3, 1 / 3, 0.0))),
    "large": dict(zip(STRENGTHS, (3.0, 2.0, 1.0, 0.0))),
}


def margin_of(strength: str | None, table: str = "small") -> float:
    """The margin of a strength under a table ("none", "small" — the default — or "large")."""
    if table not in MARGIN_TABLES:
        raise ValueError(f"unknown margin table {table!r}; expected one of {', '.join(MARGIN_TABLES)}")
    if strength is None:
        return 0.0
    return MARGIN_TABLES[table][strength]


def strength_of_margin(margin: float, table: str = "small") -> str:
    """The strength whose margin under `table` is nearest to `margin` (beyond the largest: the strongest).

    Reads TRL files whose `margin` column is a number: with the "small" table, 5/6 and above is
    significantly_better, [1/2, 5/6) better, [1/6, 1/2) slightly_better, below 1/6 negligibly_better
    (a tie goes to the stronger).
    A negative margin (the rejected reply better) raises ValueError.
    """
    if margin < 0:
        raise ValueError(f"margin {margin} is negative (it must say how much better the chosen reply is)")
    margins = MARGIN_TABLES[table]
    return min(margins, key=lambda strength: abs(margins[strength] - margin))  # a table lists the strongest first
