"""The staff dashboard in Chromium: a batch filled by simulated annotators over the real API, then its batch
page and one annotator's page, with every chart drawn and the figures the API reports.

The shared items' pairs are sampled for real, then given readable texts (as a better model would have
written them) before anyone judges them, so that the oracle's verdicts, and the strengths and agreement
on the page, vary. `make screenshots` copies dashboard_batch and dashboard_annotator (full pages) to
docs/screenshots/.
"""

import json

import pytest

from tests.browser.conftest import batch_id_of, charts_of, log_in, overlap_items_ready, screenshot

pytestmark = pytest.mark.browser

BATCH = "week-1-helpfulness"
PER_USER = 4
# prompt → (a, b); the oracle's score gaps are 7, 2 and 1: significantly, better, slightly better
SHARED = {
    "How do I keep basil alive on a windowsill?": (
        "Sure, happy to help. Basil wants six hours of sun and soil that dries a little between waterings: for "
        "example, water when the top centimetre feels dry. Pinch off the flower buds, because flowering makes "
        "the leaves bitter.",
        "Whatever. Basil is boring; just water it.",
    ),
    "What should I pack for a two-day hike?": (
        "I recommend water, warm layers, a map and a small first-aid kit. Thanks for planning ahead: it is "
        "important to tell someone your route.",
        "I suggest water, snacks and a jacket.",
    ),
    "Can you explain what a mortgage is?": (
        "A mortgage is a loan secured by the home you buy. You repay it monthly, with interest, over many "
        "years. Please compare offers from several lenders.",
        "It is a loan for a house.",
    ),
}
ITEMS = len(SHARED)
# One own prompt, then three shared items each (the due rule keeps 3 in 4); the batch's k = 3 takes all three
# annotators on every item, so no item is left over for the tests after this one.
OVERLAP_FRACTION = 0.75
PROFILE = {
    "default": {"time_spent_ms": 6000},
    "annotators": [
        {"name": "dash-always-a", "position_bias": 1.0, "time_spent_ms": 2000},
        {"name": "dash-faithful"},
        {"name": "dash-noisy", "noise": 0.4},
    ],
}


def shown(page, selector: str) -> float:
    return float(page.inner_text(selector).strip())


def test_batch_and_annotator_pages(stack, page, tmp_path, overlap_fraction):
    # given a batch with three shared items, filled by three simulated annotators through the real API
    admin = stack.client("boss", "boss-passphrase")
    batch_id = batch_id_of(admin, BATCH)
    overlap_items_ready(admin, batch_id, list(SHARED))
    for prompt, pair in SHARED.items():
        for label, text in zip("ab", pair):
            assert stack.sql(
                "UPDATE annotation_sample s SET text = %s, completion_tokens = %s FROM annotation_overlapitem i "
                "WHERE i.source_turn_id = s.turn_id AND i.prompt = %s AND s.label = %s RETURNING s.id",
                text,
                len(text.split()),
                prompt,
                label,
            )
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    overlap_fraction(BATCH, OVERLAP_FRACTION)
    run = stack.annotators_simulate(users=3, comparisons=PER_USER, options=("--profile", str(profile)))
    assert run["errors"] == 0 and run["comparisons"] == 3 * PER_USER and run["overlap_comparisons"] == 3 * ITEMS, run
    stats = admin.get(f"/api/batches/{batch_id}/stats/").json()
    assert stats["agreement"]["items"] == ITEMS and stats["agreement"]["percent_agreement"] is not None

    # when a staff member opens the batch page
    log_in(page, "boss")
    page.goto(f"/dashboard/batches/{batch_id}/")

    # then every chart is drawn, and the figures are the API's
    charts = charts_of(page)
    drawn = {chart["src"].rsplit("/", 1)[1] for chart in charts}
    assert {"strength.png", "safety-bins.png", "annotators.png", "biases.png"} <= drawn, charts
    for chart in charts:
        assert chart["complete"] and chart["width"] > 200 and chart["height"] > 100, chart
    assert page.inner_text("h1").startswith(BATCH)
    comparisons_row = page.locator("#summary tr", has_text="Comparisons / target").inner_text()
    assert f"{stats['comparisons']} / {stats['target_comparisons']}" in comparisons_row
    assert shown(page, "#percent-agreement") == pytest.approx(stats["agreement"]["percent_agreement"], abs=5e-4)
    assert shown(page, "#a-rate") == pytest.approx(stats["position_bias"]["a_rate"], abs=5e-4)
    if stats["agreement"]["fleiss_kappa"] is None:
        assert page.inner_text("#fleiss-kappa") == "–"
    else:
        assert shown(page, "#fleiss-kappa") == pytest.approx(stats["agreement"]["fleiss_kappa"], abs=5e-4)
    for name in ("dash-always-a", "dash-faithful", "dash-noisy"):
        row = page.locator("#annotators tr", has_text=name)
        assert row.locator("td").nth(1).inner_text() == str(PER_USER)
    screenshot(page, "dashboard_batch", full_page=True)

    # when they follow the link to the annotator who always chose A
    page.locator("#annotators a", has_text="dash-always-a").click()
    page.wait_for_url("**/dashboard/annotators/*/")
    person = admin.get(f"/api/annotators/{page.url.rstrip('/').rsplit('/', 1)[1]}/stats/").json()

    # then their drift chart is drawn, and their figures show that bias
    charts = charts_of(page)
    assert any(chart["src"].endswith("/drift.png") for chart in charts), charts
    for chart in charts:
        assert chart["complete"] and chart["width"] > 200 and chart["height"] > 100, chart
    assert page.inner_text("h1").startswith("dash-always-a")
    assert person["comparisons"] == PER_USER
    summary = page.locator("#annotator-summary tr", has_text="Comparisons").inner_text()
    assert summary.split()[-1] == str(PER_USER)
    assert page.inner_text("#a-rate") == "1.000" and person["position_bias"]["a_rate"] == 1.0
    assert BATCH in page.inner_text("main")
    screenshot(page, "dashboard_annotator", full_page=True)
