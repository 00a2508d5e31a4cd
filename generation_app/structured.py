"""Structured fields (lists, objects) that a multipart form carries as text."""

from __future__ import annotations

import ast
import json
from typing import Any

from core.errors import ApiError


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
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ApiError(
            f"{key}: could not be read. Send JSON (or use a JSON request body).",
            code="malformed_request",
        ) from None
