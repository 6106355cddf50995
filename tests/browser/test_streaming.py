"""Replies stream in the browser: A and B grow side by side while the rating stays disabled, then it is enabled."""

import time

import pytest

from tests.browser.conftest import SAMPLING_TIMEOUT_MS, log_in, saved, screenshot
from tests.e2e.conftest import foreign_model_dir

pytestmark = pytest.mark.browser

BATCH = "week-1-helpfulness"
MODEL = "tiny-v1"


@pytest.fixture
def slow_model(stack, tmp_path):
    """For one test, the helpfulness batch samples 600 tokens from a slow model that never says EOS."""
    slow = foreign_model_dir(tmp_path / "slow", seed=5, hidden=256, layers=6, positions=2048, endless=True)
    [(path,)] = stack.sql("SELECT path FROM annotation_modelversion WHERE name = %s", MODEL)
    [(tokens,)] = stack.sql("SELECT max_new_tokens FROM annotation_batch WHERE name = %s", BATCH)
    stack.sql("UPDATE annotation_modelversion SET path = %s WHERE name = %s RETURNING id", str(slow), MODEL)
    stack.sql("UPDATE annotation_batch SET max_new_tokens = 600 WHERE name = %s RETURNING id", BATCH)
    stack.manage("create_user", "--username", "ste", "--password", "ste-passphrase", "--role", "annotator")
    yield slow
    stack.sql("UPDATE annotation_modelversion SET path = %s WHERE name = %s RETURNING id", path, MODEL)
    stack.sql("UPDATE annotation_batch SET max_new_tokens = %s WHERE name = %s RETURNING id", tokens, BATCH)


def _texts(page) -> tuple[str, str] | None:
    """The two texts so far, or None once the page has left the sampling state (read in one go, since the
    page swaps in the ready state the moment the pair is complete)."""
    texts = page.evaluate("""() => {
      const state = document.querySelector("#dialogue-state");
      const a = document.querySelector('[data-testid="partial-a"]');
      const b = document.querySelector('[data-testid="partial-b"]');
      return state && state.dataset.state === "sampling" && a && b ? [a.innerText, b.innerText] : null;
    }""")
    return tuple(texts) if texts else None


def test_both_replies_grow_side_by_side_and_the_rating_waits_for_them(stack, page, slow_model):
    log_in(page, "ste")
    page.keyboard.press("h")
    page.wait_for_url("**/dialogues/*/")
    page.wait_for_selector("#prompt:focus")
    page.keyboard.type("Write a long story.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#dialogue-state[data-state="sampling"]')
    a_box, b_box = page.locator(".response-a").bounding_box(), page.locator(".response-b").bounding_box()
    assert a_box["x"] < b_box["x"] and abs(a_box["y"] - b_box["y"]) < 2  # A left, B right, as when ready

    # while the pair is written: both texts appear and grow, and no rating can be given
    snapshots, deadline = [], time.time() + SAMPLING_TIMEOUT_MS / 1000
    while (texts := _texts(page)) is not None and time.time() < deadline:
        if all(t.strip() for t in texts):
            snapshots.append(texts)
            if len(snapshots) == 1:
                screenshot(page, "streaming")
                assert page.is_disabled('#rating-pending input[name="chosen"][value="a"]')
                assert page.is_disabled('#rating-pending input[name="strength"][value="better"]')
                assert page.is_disabled('#rating-pending button[type="submit"]')
                page.keyboard.press("a")  # the shortcuts are inert too
                page.keyboard.press("Enter")
                assert not page.is_checked('#rating-pending input[name="chosen"][value="a"]')
        page.wait_for_timeout(150)
    assert len(snapshots) >= 2, "never saw both replies being written"
    assert all(len(last) > len(first) for first, last in zip(snapshots[0], snapshots[-1])), snapshots[::5]

    # then the complete pair, with the rating enabled
    page.wait_for_selector("#rating", timeout=SAMPLING_TIMEOUT_MS)
    assert page.is_enabled('#rating input[name="chosen"][value="a"]') and page.is_enabled(
        '#rating button[type="submit"]'
    )
    assert page.locator("[data-partial]").count() == 0
    for key in ("b", "3", "Enter"):
        page.keyboard.press(key)
    saved(page)
    assert stack.sql(
        "SELECT c.chosen FROM annotation_comparison c JOIN auth_user u ON u.id = c.annotator_id "
        "WHERE u.username = 'ste'"
    ) == [("b",)]
