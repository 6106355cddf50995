"""Markdown to HTML for everything a model or a person wrote: nothing in it can run script.

Two layers. Python-Markdown runs with its raw-HTML handling removed, so `<script>` or
`<img onerror=…>` in a text comes out as visible text rather than as markup. The result then
goes through nh3 (ammonia) with a short allow-list of tags and attributes, which would remove
anything executable that slipped through.
"""

import re

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "del",
    "sup",
    "sub",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d{1,3}[.)])\s+\S")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def _lists_need_no_blank_line(text: str) -> str:
    """Models write lists straight under a line of text; Python-Markdown wants a blank line first."""
    lines, out, in_fence = text.split("\n"), [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and LIST_ITEM.match(line) and out and out[-1].strip() and not LIST_ITEM.match(out[-1]):
            if not out[-1].startswith((" ", "\t")):
                out.append("")
        out.append(line)
    return "\n".join(out)


def _markdown() -> markdown.Markdown:
    md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists", "nl2br"], output_format="html")
    md.preprocessors.deregister("html_block")  # block-level raw HTML becomes text
    md.inlinePatterns.deregister("html")  # so does inline raw HTML
    return md


def markdown_render(text: str) -> SafeString:
    """Sanitised HTML for a markdown text (a prompt, a response, guidelines)."""
    html = _markdown().convert(_lists_need_no_blank_line(text or ""))
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above
