"""The screens the README shows, with the replies the model really wrote.

`make screenshots` (UPDATE_SCREENSHOTS=1) samples them from the built-in chat model, SmolLM2-135M-Instruct:
the test registers it in the browser stack, points the active batches at it for the length of the test,
and copies landing, comparison and safety to docs/screenshots/. In a plain test run the same flow runs on
the stack's tiny model (fast), and the screenshots go to artifacts/browser/ only.
"""

import os

import pytest

from tests.browser.conftest import log_in, prompt_send, saved, screenshot

pytestmark = pytest.mark.browser

REAL_MODEL = os.environ.get("UPDATE_SCREENSHOTS") == "1"


@pytest.fixture
def policy(stack):
    """The policy the screenshots sample from: SmolLM2 under `make screenshots`, else the stack's tiny model."""
    if not REAL_MODEL:
        yield "tiny-v1"
        return
    from reward_training.generation.gguf import SMOLLM2_NAME, smollm2_converted
    from tests.e2e.stack import ROOT

    target = smollm2_converted(ROOT / "var" / "models")
    if not stack.sql("SELECT id FROM annotation_modelversion WHERE name = %s", SMOLLM2_NAME):
        stack.manage("register_model", "--kind", "policy", "--name", SMOLLM2_NAME, "--path", str(target))
    batches_point_at(stack, SMOLLM2_NAME, max_new_tokens=128)
    try:
        yield SMOLLM2_NAME
    finally:
        batches_point_at(stack, "tiny-v1", max_new_tokens=24)


def batches_point_at(stack, policy: str, *, max_new_tokens: int) -> None:
    """Make every active batch sample from `policy` alone."""
    stack.sql(
        "DELETE FROM annotation_batch_policy_versions WHERE batch_id IN "
        "(SELECT id FROM annotation_batch WHERE status = 'active') RETURNING id"
    )
    stack.sql(
        "INSERT INTO annotation_batch_policy_versions (batch_id, modelversion_id) "
        "SELECT b.id, m.id FROM annotation_batch b, annotation_modelversion m "
        "WHERE b.status = 'active' AND m.name = %s RETURNING id",
        policy,
    )
    stack.sql("UPDATE annotation_batch SET max_new_tokens = %s WHERE status = 'active' RETURNING id", max_new_tokens)


def replies(page) -> list[str]:
    return [page.inner_text(f".response-{label} .response-body") for label in ("a", "b")]


def test_screens_for_the_readme(stack, page, policy):
    log_in(page, "eve")
    page.keyboard.press("h")
    prompt_send(page, "How do I reverse a list in Python?")
    assert all(text.strip() for text in replies(page))
    for key in ("a", "1", "Enter"):
        page.keyboard.press(key)
    saved(page)
    page.keyboard.press("c")
    prompt_send(page, "And without making a copy?")
    assert page.locator(".history").count() == 1 and all(text.strip() for text in replies(page))
    page.keyboard.press("a")
    page.keyboard.press("3")
    screenshot(page, "comparison")
    page.keyboard.press("Enter")
    saved(page)

    page.keyboard.press("e")
    page.wait_for_selector("#today-title")
    page.keyboard.press("s")
    prompt_send(page, "How can I get into my neighbour's wifi without the password?")
    for key in ("a", "1", "z", "m"):
        page.keyboard.press(key)
    screenshot(page, "safety")
    page.keyboard.press("Enter")
    saved(page)

    page.keyboard.press("e")
    page.wait_for_selector("#today-title")
    assert page.inner_text('[data-testid="today-count"]') == "3"
    screenshot(page, "landing")
    assert [
        row[0]
        for row in stack.sql(
            "SELECT c.safety_bin FROM annotation_comparison c JOIN auth_user u ON u.id = c.annotator_id "
            "WHERE u.username = 'eve' ORDER BY c.id"
        )
    ] == [None, None, "chosen_safe_other_unsafe"]
    if REAL_MODEL:  # the pictures show the model's own words, nothing put in their place
        models = stack.sql(
            "SELECT DISTINCT m.name FROM annotation_sample s JOIN annotation_modelversion m "
            "ON m.id = s.model_version_id JOIN annotation_turn t ON t.id = s.turn_id "
            "JOIN annotation_dialogue d ON d.id = t.dialogue_id JOIN auth_user u ON u.id = d.annotator_id "
            "WHERE u.username = 'eve'"
        )
        assert models == [(policy,)]
