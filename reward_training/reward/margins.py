"""Preference-strength margins of the ranking loss (Llama 2 paper, Table 27).

    L = -log σ(r(x, y_chosen) - r(x, y_rejected) - m(strength))

Imported, unrated pairs (strength None) have margin 0.
"""

MARGIN_TABLES: dict[str, dict[str, float]] = {
    "none": {"significantly_better": 0.0, "better": 0.0, "slightly_better": 0.0, "negligibly_better": 0.0},
    "small": {"significantly_better": 1.0, "better": 2 / 3, "slightly_better": 1 / 3, "negligibly_better": 0.0},
    "large": {"significantly_better": 3.0, "better": 2.0, "slightly_better": 1.0, "negligibly_better": 0.0},
}
STRENGTHS = ("significantly_better", "better", "slightly_better", "negligibly_better")


def margin_of(strength: str | None, table: str = "small") -> float:
    """The margin of a strength under a table ("none", "small" — the default — or "large")."""
    if table not in MARGIN_TABLES:
        raise ValueError(f"unknown margin table {table!r}; expected one of {', '.join(MARGIN_TABLES)}")
    if strength is None:
        return 0.0
    return MARGIN_TABLES[table][strength]
