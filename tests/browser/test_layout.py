"""The layout fits a 1366×768 laptop and 200 % zoom (683×384 CSS pixels); every control has an accessible name."""

import pytest

from tests.browser.conftest import log_in, prompt_send, screenshot

pytestmark = pytest.mark.browser

VIEWPORTS = [(1366, 768), (683, 384)]

UNNAMED_CONTROLS = """() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const name = (el) => (el.getAttribute('aria-label') || '').trim()
    || (el.getAttribute('aria-labelledby') || '').split(' ')
         .map(id => document.getElementById(id)?.textContent || '').join('').trim()
    || (el.labels && [...el.labels].map(l => l.textContent).join('').trim())
    || (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) ? el.textContent.trim() : '')
    || (el.getAttribute('title') || '').trim();
  const controls = 'button, a[href], input:not([type=hidden]), textarea, select, progress, dialog, [tabindex="0"]';
  return [...document.querySelectorAll(controls)]
    .filter(el => el.tagName === 'DIALOG' || visible(el)).filter(el => !name(el)).map(el => el.outerHTML.slice(0, 120));
}"""


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def check_every_size(page, screen: str) -> None:
    """At each viewport: no sideways scrolling, every control named; a screenshot of each."""
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        assert fits(page), f"the {screen} screen scrolls sideways at {width}x{height}"
        assert page.evaluate(UNNAMED_CONTROLS) == [], f"unnamed controls on the {screen} screen"
        screenshot(page, f"layout-{screen}-{width}x{height}")


def test_layout_fits_and_every_control_is_named(stack, page):
    log_in(page, "lay")
    check_every_size(page, "landing")
    page.set_viewport_size({"width": 683, "height": 384})
    page.keyboard.press("s")  # the safety screen has the most controls
    page.wait_for_url("**/dialogues/*/")
    check_every_size(page, "prompt")
    page.wait_for_selector("#prompt:focus")
    prompt_send(page, "Write `a_very_long_identifier_" + "x" * 120 + "` and a table | a | b |")
    check_every_size(page, "comparison")
    page.keyboard.press("?")
    check_every_size(page, "guidelines")
    page.keyboard.press("Escape")
    page.keyboard.press("s")  # the report panel
    page.wait_for_selector("#report[open]")
    check_every_size(page, "report")
    page.keyboard.press("Enter")
    page.wait_for_selector('#dialogue-state[data-state="reported"]')
    check_every_size(page, "reported")
