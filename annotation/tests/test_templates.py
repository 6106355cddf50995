"""Template mistakes that render silently: a multi-line {# #} comment (Django's are one line: the text shows on the
page) and an inline <style> block (the pages' CSP, style-src 'self', drops it, so the page goes unstyled)."""

import re
from pathlib import Path

TEMPLATES = sorted((Path(__file__).resolve().parents[1] / "templates").rglob("*.html"))


def test_the_templates_are_found():
    assert len(TEMPLATES) > 10


def test_no_comment_runs_over_a_line():
    offenders = [
        f"{path.name}: {match.group(0)[:40]!r}"
        for path in TEMPLATES
        for match in re.finditer(r"\{#.*?#\}", path.read_text(), re.S)
        if "\n" in match.group(0)
    ]
    assert offenders == [], "use {% comment %} … {% endcomment %} for these"


def test_no_inline_style_block():
    assert [path.name for path in TEMPLATES if "<style" in path.read_text()] == []
