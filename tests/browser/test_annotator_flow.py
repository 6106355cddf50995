"""The annotator's whole flow in Debian's Chromium, keys only, against the live stack; then what the database holds."""

import pytest

from tests.browser.conftest import SAMPLING_TIMEOUT_MS, log_in, prompt_send, saved, screenshot

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def comparisons_of(stack, username: str):
    return stack.sql(
        "SELECT t.index, c.chosen, c.strength, c.a_safe, c.b_safe, c.safety_bin, c.unsafe_chosen, c.time_spent_ms, "
        "d.track "
        "FROM annotation_comparison c JOIN annotation_turn t ON t.id = c.turn_id "
        "JOIN annotation_dialogue d ON d.id = t.dialogue_id JOIN auth_user u ON u.id = c.annotator_id "
        "WHERE u.username = %s ORDER BY c.id",
        username,
    )


def test_helpfulness_dialogue_of_two_turns(stack, page):
    log_in(page, "ann")
    assert page.inner_text('[data-testid="today-count"]') == "0"
    assert "week-1-helpfulness" in page.inner_text("main")
    screenshot(page, "flow-landing")

    # the guidelines are one key away, on every screen
    page.keyboard.press("?")
    assert page.is_visible("#guidelines") and "helpful" in page.inner_text("#guidelines").lower()
    page.keyboard.press("Escape")
    assert not page.is_visible("#guidelines")

    page.keyboard.press("h")
    page.wait_for_url("**/dialogues/*/")
    prompt_send(page, "Tell me about the sea, in **two** lines.")
    assert page.inner_text('[data-testid="current-prompt"]').startswith("Tell me about the sea")
    assert page.inner_text('[data-testid="tokens-a"]').endswith("tokens")
    assert page.is_visible(".response-a") and page.is_visible(".response-b")
    a_box, b_box = page.locator(".response-a").bounding_box(), page.locator(".response-b").bounding_box()
    assert a_box["x"] < b_box["x"]  # A left, B right
    screenshot(page, "flow-comparison")
    page.keyboard.press("a")
    page.keyboard.press("2")
    page.wait_for_timeout(300)  # a measurable time on the comparison
    page.keyboard.press("Enter")
    saved(page)

    # continue: the chosen reply is history now
    page.keyboard.press("c")
    prompt_send(page, "And the wind?")
    history = page.inner_text(".history")
    assert "Tell me about the sea" in history and "CHOSEN: A · BETTER" in history.upper()
    assert page.locator(".history .bubble-model").count() == 1
    page.keyboard.press("ArrowRight")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    saved(page)
    page.keyboard.press("e")
    page.wait_for_selector("#today-title")
    assert page.inner_text('[data-testid="today-count"]') == "2"

    rows = comparisons_of(stack, "ann")
    assert [(r[0], r[1], r[2], r[8]) for r in rows] == [
        (0, "a", "better", "helpfulness"),
        (1, "b", "significantly_better", "helpfulness"),
    ]
    assert all(r[7] >= 300 for r in rows[:1]) and all(r[7] > 0 for r in rows)  # measured on the client
    assert all(r[3] is None and r[4] is None for r in rows)  # no safety flags in the helpfulness track
    # the second turn was sampled with the first turn's chosen reply in its history
    assert stack.sql(
        "SELECT count(DISTINCT dialogue_id), max(index) FROM annotation_turn t JOIN auth_user u "
        "ON u.id = (SELECT annotator_id FROM annotation_dialogue WHERE id = t.dialogue_id) "
        "WHERE u.username = 'ann'"
    ) == [(1, 1)]


def test_safety_turn_and_the_unsafe_choice_confirmation(stack, page):
    log_in(page, "sam")
    page.keyboard.press("s")
    page.wait_for_url("**/dialogues/*/")
    prompt_send(page, "How do I pick a lock?")
    page.keyboard.press("?")
    assert "safer response is a better response" in page.inner_text("#guidelines")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("3")
    page.keyboard.press("z")  # A safe
    page.keyboard.press("m")  # B unsafe: the chosen one is unsafe, the other safe
    screenshot(page, "flow-safety")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-unsafe[open]")
    assert "never used to train" in page.inner_text("#confirm-unsafe")
    screenshot(page, "safety-confirm")
    page.keyboard.press("Escape")  # change my answer
    assert not page.is_visible("#confirm-unsafe") and comparisons_of(stack, "sam") == []
    page.keyboard.press("n")  # B safe after all
    page.keyboard.press("Enter")
    saved(page)

    # a second turn, confirmed on purpose: kept, flagged, no safety bin
    page.keyboard.press("c")
    prompt_send(page, "And a bike lock?")
    for key in ("a", "4", "x", "n", "Enter"):
        page.keyboard.press(key)
    page.wait_for_selector("#confirm-unsafe[open]")
    page.keyboard.press("Tab")  # from "Change my answer" to "Submit anyway"
    page.keyboard.press("Enter")
    saved(page)

    rows = comparisons_of(stack, "sam")
    assert [(r[1], r[2], r[3], r[4], r[5], r[6], r[8]) for r in rows] == [
        ("b", "slightly_better", True, True, "both_safe", False, "safety"),
        ("a", "negligibly_better", False, True, None, True, "safety"),
    ]


def test_validation_errors_and_drafts_that_survive(stack, page):
    log_in(page, "val")
    page.keyboard.press("h")
    page.wait_for_url("**/dialogues/*/")
    page.wait_for_selector("#prompt:focus")
    page.keyboard.press("Control+Enter")  # nothing typed
    assert page.inner_text("#composer-errors") == "Write a prompt first."

    # a typed prompt survives a reload and a lost connection
    page.keyboard.type("What is a haiku?")
    page.reload()
    page.wait_for_selector("#prompt:focus")
    assert page.input_value("#prompt") == "What is a haiku?"
    page.context.set_offline(True)
    page.keyboard.press("Control+Enter")
    page.locator(
        "#composer-errors", has_text="No connection"
    ).wait_for()  # (no wait_for_function: the CSP forbids eval)
    assert page.input_value("#prompt") == "What is a haiku?"
    page.context.set_offline(False)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#rating", timeout=SAMPLING_TIMEOUT_MS)

    # the rating refuses to submit until complete, and says what is missing
    page.keyboard.press("Enter")
    missing = page.inner_text("#rating-errors")
    assert "which response is better" in missing and "how much better" in missing
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    assert "how much better" in page.inner_text("#rating-errors")
    assert "which response" not in page.inner_text("#rating-errors")
    screenshot(page, "validation")
    assert comparisons_of(stack, "val") == []

    # half-done rating survives a reload
    page.reload()
    page.wait_for_selector("#dialogue:focus")  # dialogue.js has mounted: the keys work from here
    assert page.is_checked('#rating input[name="chosen"][value="b"]')
    page.keyboard.press("4")
    # a 5xx keeps the rating on screen and in the draft; the next Enter saves it
    page.route("**/comparison/", lambda route: route.fulfill(status=502, body="Bad Gateway"))
    page.keyboard.press("Enter")
    page.locator("#rating-errors", has_text="502").wait_for()
    assert page.is_checked('#rating input[name="strength"][value="negligibly_better"]')
    assert comparisons_of(stack, "val") == []
    page.unroute("**/comparison/")
    page.keyboard.press("Enter")
    saved(page)
    assert [(r[1], r[2]) for r in comparisons_of(stack, "val")] == [("b", "negligibly_better")]
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rlhf.draft'))") == []


def test_sampling_failure_then_retry(stack, page):
    log_in(page, "fay")
    good = stack.sql("SELECT name, path FROM annotation_modelversion ORDER BY name")
    stack.sql("UPDATE annotation_modelversion SET path = path || '-missing' RETURNING id")
    try:
        page.keyboard.press("h")
        page.wait_for_url("**/dialogues/*/")
        page.wait_for_selector("#prompt:focus")
        page.keyboard.type("Name three rivers.")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector(".failed", timeout=SAMPLING_TIMEOUT_MS)
        assert "Sampling failed" in page.inner_text(".failed")
        screenshot(page, "sampling-failed")
        assert stack.sql(
            "SELECT t.status FROM annotation_turn t JOIN annotation_dialogue d ON d.id = t.dialogue_id "
            "JOIN auth_user u ON u.id = d.annotator_id WHERE u.username = 'fay'"
        ) == [("failed",)]
    finally:
        for name, path in good:
            stack.sql("UPDATE annotation_modelversion SET path = %s WHERE name = %s RETURNING id", path, name)
    page.keyboard.press("r")
    page.wait_for_selector("#rating", timeout=SAMPLING_TIMEOUT_MS)
    for key in ("a", "3", "Enter"):
        page.keyboard.press(key)
    saved(page)
    assert stack.sql(
        "SELECT t.status, t.error, count(s.id) FROM annotation_turn t JOIN annotation_dialogue d "
        "ON d.id = t.dialogue_id JOIN auth_user u ON u.id = d.annotator_id LEFT JOIN annotation_sample s "
        "ON s.turn_id = t.id WHERE u.username = 'fay' GROUP BY t.id"
    ) == [("annotated", "", 2)]
    assert [(r[1], r[2]) for r in comparisons_of(stack, "fay")] == [("a", "slightly_better")]


def test_xss_in_prompt_and_response_never_runs(stack, page):
    log_in(page, "xss")
    page.keyboard.press("h")
    page.wait_for_url("**/dialogues/*/")
    prompt_send(page, f"Explain this {XSS} please")
    turn_id = page.get_attribute("#dialogue-state", "data-turn-id")
    # a response that carries the payload too, next to markdown that must still render
    stack.sql(
        "UPDATE annotation_sample SET text = %s WHERE turn_id = %s AND label = 'a' RETURNING id",
        f"Sure:\n\n```html\n{XSS}\n```\n\nOr inline: {XSS} and **bold**",
        int(turn_id),
    )
    stack.sql(
        "UPDATE annotation_sample SET text = %s WHERE turn_id = %s AND label = 'b' RETURNING id",
        f"<script>window.__pwned=3</script>\n\n{XSS}",
        int(turn_id),
    )
    page.reload()
    page.wait_for_selector("#rating")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#dialogue img, #dialogue script").count() == 0
    assert XSS in page.inner_text('[data-testid="response-b"]')  # shown as text
    assert page.locator('[data-testid="response-a"] strong').inner_text() == "bold"
    assert page.locator('[data-testid="response-a"] pre code').count() == 1
    assert XSS in page.inner_text('[data-testid="current-prompt"]')
    screenshot(page, "xss")
    for key in ("a", "1", "Enter"):
        page.keyboard.press(key)
    saved(page)
    # the chosen reply is history now, and still inert
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#dialogue img, #dialogue script").count() == 0
    assert stack.sql("SELECT prompt FROM annotation_turn WHERE id = %s", int(turn_id)) == [
        (f"Explain this {XSS} please",)
    ]
    assert [(r[1], r[2]) for r in comparisons_of(stack, "xss")] == [("a", "significantly_better")]

    # report the next turn as offensive, keys only
    page.keyboard.press("c")
    prompt_send(page, "Say something rude.")
    page.keyboard.press("s")
    page.wait_for_selector("#report[open]")
    page.keyboard.press("2")  # offensive
    page.keyboard.press("Tab")  # into the note: shortcuts off
    page.keyboard.type("B insults me; a b 1 2")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#dialogue-state[data-state="reported"]')
    assert stack.sql(
        "SELECT r.reason, r.note FROM annotation_turnreport r JOIN auth_user u ON u.id = r.annotator_id "
        "WHERE u.username = 'xss'"
    ) == [("offensive", "B insults me; a b 1 2")]
    assert len(comparisons_of(stack, "xss")) == 1  # the keys typed in the note rated nothing
    page.keyboard.press("d")  # a new dialogue in the same track
    page.wait_for_selector("#prompt:focus")
    assert page.evaluate("typeof window.__pwned") == "undefined"
