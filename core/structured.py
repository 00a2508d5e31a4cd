"""Structured fields (lists, objects) that a multipart form carries as text.

Checked for size, node count and depth before any parser sees them, so a hostile field
costs microseconds, not a worker: ``ast.literal_eval`` takes seconds on a few hundred
thousand nodes, and recurses on deep nesting.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from django.conf import settings

from core.errors import ApiError
from core.parsers import MAX_DEPTH, UnsafeValue, check_value

MAX_NODES = 10_000  # commas, colons and brackets outside strings; real fields use dozens
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', re.DOTALL)
STRUCTURE = re.compile(r"[\[\]{}(),:]")


def _refuse(key: str, why: str) -> ApiError:
    return ApiError(f"{key}: {why}", code="malformed_request")


def _check_shape(key: str, text: str) -> None:
    if len(text) > settings.HUB_MAX_STRUCTURED_FIELD_BYTES:
        raise _refuse(
            key,
            f"{len(text):,} characters is over the limit of "
            f"{settings.HUB_MAX_STRUCTURED_FIELD_BYTES:,}; send images as files.",
        )
    marks = STRUCTURE.findall(STRING_LITERAL.sub("", text))
    if len(marks) > MAX_NODES:
        raise _refuse(key, f"more than {MAX_NODES:,} items; this is not a request the hub takes.")
    depth = deepest = 0
    for mark in marks:
        if mark in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]})":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise _refuse(key, f"nested more than {MAX_DEPTH} levels deep.")


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def parse_structured(key: str, value: Any) -> Any:
    """JSON, or the Python literal that `requests` sends for a dict inside ``data=``.

    ``requests.post(url, files=..., data={"units": [{"enabled": True}]})`` puts
    ``str(dict)`` on the wire, i.e. ``{'enabled': True}``. ``ast.literal_eval`` reads that
    safely (literals only, never code).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in "[{":
        return value
    _check_shape(key, text)
    try:
        parsed = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _refuse(
                key, "could not be read. Send JSON (or use a JSON request body)."
            ) from None
    try:
        check_value(parsed, key)
    except UnsafeValue as exc:
        raise _refuse(key, str(exc).removeprefix(f"{key}: ")) from None
    return parsed
