"""A reward model trained by `train_reward_model` (TensorBoard tracking, the default) and registered, then its
model-version page in Chromium: the loss curve is read from the run's event files and drawn.

`make screenshots` copies model_version (the full page) to docs/screenshots/.
"""

import pytest

from reward_training.testing import synthetic_write, tiny_reward_model_save
from tests.browser.conftest import charts_of, log_in, screenshot

pytestmark = pytest.mark.browser


def test_a_trained_reward_models_page_draws_its_loss_curve(stack, page, tmp_path):
    # given a reward model trained for a few steps by the command, with its run tracked and registered
    base = tiny_reward_model_save(tmp_path / "base")
    data = synthetic_write(tmp_path / "pairs.jsonl", 32, seed=0)
    trained = stack.manage(
        "train_reward_model",
        "--kind",
        "helpfulness",
        "--base",
        str(base),
        "--data",
        str(data),
        "--output",
        str(tmp_path / "rm"),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "3e-3",
        "--max-length",
        "64",
        "--mixture",
        "none",
        "--register",
        "rm-browser-w1",
    )
    assert trained["tracking"]["tracker"] == "tensorboard" and trained["steps"] == 8, trained
    [(version_id,)] = stack.sql("SELECT id FROM annotation_modelversion WHERE name = 'rm-browser-w1'")

    # when a staff member opens its model-version page
    log_in(page, "boss")
    page.goto(f"/dashboard/models/{version_id}/")

    # then the training curves, read from the TensorBoard event files, are drawn
    charts = charts_of(page)
    assert [chart["src"].rsplit("/", 1)[1] for chart in charts] == ["curves.png"], charts
    assert charts[0]["complete"] and charts[0]["width"] > 200 and charts[0]["height"] > 100, charts
    assert page.inner_text("h1").startswith("rm-browser-w1")
    # styled: the stylesheet passes the page's CSP (an inline <style> would not)
    assert page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor") == "rgb(31, 41, 51)"
    assert "loss" in page.locator("p.muted", has_text="From the tensorboard run").inner_text()
    assert page.inner_text("#data-sources") != "–"
    screenshot(page, "model_version", full_page=True)
