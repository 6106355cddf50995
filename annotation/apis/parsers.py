"""The API's JSON parser: DRF's, refusing documents nested deeper than JSON_MAX_DEPTH with a 400.

Python's json module recurses once per level, so a 2 KB body of brackets raised RecursionError (a 500)
on every JSON endpoint. The depth is measured first, without recursion, at C speed: string literals
are blanked out, everything but brackets is dropped, and each pass of `replace("[]", "")` removes
exactly one level of nesting.
"""

import codecs
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from annotation.apis.exceptions import PayloadTooLarge

JSON_MAX_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, max_depth: int = JSON_MAX_DEPTH) -> bool:
    """Whether `text` holds arrays or objects nested more than `max_depth` deep (brackets in strings do not count)."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text)).replace("{", "[").replace("}", "]")
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = brackets.replace("[]", "")
    return "[]" in brackets


class DepthLimitedJSONParser(JSONParser):
    """JSON bodies as DRF parses them, but a document nested deeper than JSON_MAX_DEPTH is a ParseError (400),
    and one longer than DATA_UPLOAD_MAX_MEMORY_SIZE a 413, also when it came without a Content-Length."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge(limit)
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = codecs.decode(body, encoding)
        except (ValueError, LookupError) as error:
            raise ParseError(f"JSON parse error - {error}") from error
        if json_depth_exceeds(text):
            raise ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels")
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except (ValueError, RecursionError) as error:
            raise ParseError(f"JSON parse error - {error}") from error
