"""A shared (overlap) item in the annotator's keyboard flow, in Chromium against the live stack."""

import pytest

from tests.browser.conftest import batch_id_of, log_in, overlap_items_ready, prompt_send, saved, screenshot

pytestmark = pytest.mark.browser

BATCH = "week-1-helpfulness"
SHARED_PROMPT = "Name three rivers in Africa."


def test_a_shared_item_comes_up_when_due_and_is_judged_with_the_keys(stack, page, overlap_fraction):
    # given a batch where every second turn should be a shared item, and one item with its pair sampled
    admin = stack.client("boss", "boss-passphrase")
    overlap_items_ready(admin, batch_id_of(admin, BATCH), [SHARED_PROMPT])
    overlap_fraction(BATCH, 0.5)
    log_in(page, "sol")
    assert page.inner_text(".track-helpfulness button").startswith("Start a helpfulness dialogue")  # none due yet

    # when the annotator finishes a turn of their own
    page.keyboard.press("h")
    page.wait_for_url("**/dialogues/*/")
    prompt_send(page, "What is a good name for a cat?")
    for key in ("a", "2", "Enter"):
        page.keyboard.press(key)
    saved(page)

    # then the next step offers the shared item, on the key that starts a new dialogue
    assert page.inner_text(".saved [data-action=new]").startswith("Judge a shared item")
    page.keyboard.press("d")
    page.wait_for_selector("[data-testid=shared-note]")
    assert page.inner_text("h1") == "Helpfulness shared item"
    assert page.inner_text('[data-testid="current-prompt"]') == SHARED_PROMPT
    screenshot(page, "shared-item")

    # when they judge it with the same keys as any pair
    page.keyboard.press("b")
    page.keyboard.press("3")
    page.wait_for_timeout(200)
    page.keyboard.press("Enter")

    # then the shared item is done: no prompt box, and Enter opens a dialogue of their own
    page.wait_for_selector("#dialogue-state[data-state=finished]")
    assert page.locator("#prompt").count() == 0
    assert page.evaluate("document.activeElement.dataset.action") == "new"
    assert page.inner_text("[data-action=new]").startswith("New dialogue")
    page.keyboard.press("Enter")
    page.wait_for_selector("#prompt:focus")
    assert page.inner_text("h1") == "Helpfulness dialogue"

    # and the comparison is on sol's lease of the item
    assert stack.sql(
        "SELECT t.prompt, c.chosen, c.strength, c.time_spent_ms > 0 FROM annotation_overlapassignment a "
        "JOIN annotation_comparison c ON c.turn_id = a.turn_id JOIN annotation_turn t ON t.id = a.turn_id "
        "JOIN auth_user u ON u.id = a.annotator_id WHERE u.username = 'sol'"
    ) == [(SHARED_PROMPT, "b", "slightly_better", True)]
