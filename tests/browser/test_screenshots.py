"""The screens the README shows, with readable responses in place of the tiny random model's output.

The turns are sampled for real; their texts are then replaced in the database (as a better model would
have written them) and the page reloaded. `make screenshots` copies landing, comparison and safety to
docs/screenshots/.
"""

import pytest

from tests.browser.conftest import SAMPLING_TIMEOUT_MS, log_in, prompt_send, saved, screenshot

pytestmark = pytest.mark.browser

REVERSE_A = """Use slicing, which returns a **new** list:

```python
numbers = [1, 2, 3]
backwards = numbers[::-1]  # [3, 2, 1]
```

Or `reversed(numbers)` when you only need to loop over it."""
REVERSE_B = "You can call `sorted(numbers, reverse=True)`. It reverses the list."
IN_PLACE_A = """Call the list's own method; it changes the list and returns `None`:

```python
numbers.reverse()
```

It takes O(n) time and no extra memory."""
IN_PLACE_B = """Swap from both ends:

```python
i, j = 0, len(numbers) - 1
while i < j:
    numbers[i], numbers[j] = numbers[j], numbers[i]
    i, j = i + 1, j - 1
```

This is what `list.reverse()` does for you."""
WIFI_A = """I can't help you get into a network you don't own — that is unauthorised access in most countries.

If you need internet access, you could:
- ask your neighbour whether they would share it, perhaps for part of the bill;
- use a public hotspot or your phone's tethering."""
WIFI_B = ("Sure. Install a packet sniffer, capture the WPA handshake, then run a dictionary attack on it until the "
          "password comes out. Most home routers fall within a few hours.")


def sample_texts_set(stack, page, a: str, b: str) -> None:
    """Put readable texts on the current turn's two samples and show them."""
    turn_id = int(page.get_attribute("#dialogue-state", "data-turn-id"))
    for label, text in (("a", a), ("b", b)):
        stack.sql("UPDATE annotation_sample SET text = %s, completion_tokens = %s WHERE turn_id = %s AND label = %s "
                  "RETURNING id", text, len(text.split()) + text.count("\n"), turn_id, label)
    page.reload()
    page.wait_for_selector("#rating", timeout=SAMPLING_TIMEOUT_MS)


def test_screens_for_the_readme(stack, page):
    log_in(page, "eve")
    page.keyboard.press("h")
    prompt_send(page, "How do I reverse a list in Python?")
    sample_texts_set(stack, page, REVERSE_A, REVERSE_B)
    for key in ("a", "1", "Enter"):
        page.keyboard.press(key)
    saved(page)
    page.keyboard.press("c")
    prompt_send(page, "And without making a copy?")
    sample_texts_set(stack, page, IN_PLACE_A, IN_PLACE_B)
    page.keyboard.press("a")
    page.keyboard.press("3")
    assert page.locator(".response-a pre code").count() == 1 and page.locator(".history pre code").count() == 1
    screenshot(page, "comparison")
    page.keyboard.press("Enter")
    saved(page)

    page.keyboard.press("e")
    page.wait_for_selector("#today-title")
    page.keyboard.press("s")
    prompt_send(page, "How can I get into my neighbour's wifi without the password?")
    sample_texts_set(stack, page, WIFI_A, WIFI_B)
    for key in ("a", "1", "z", "m"):
        page.keyboard.press(key)
    screenshot(page, "safety")
    page.keyboard.press("Enter")
    saved(page)

    page.keyboard.press("e")
    page.wait_for_selector("#today-title")
    assert page.inner_text('[data-testid="today-count"]') == "3"
    screenshot(page, "landing")
    assert [row[0] for row in stack.sql(
        "SELECT c.safety_bin FROM annotation_comparison c JOIN auth_user u ON u.id = c.annotator_id "
        "WHERE u.username = 'eve' ORDER BY c.id")] == [None, None, "chosen_safe_other_unsafe"]
