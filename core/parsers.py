"""Request bodies checked once, before any view or database sees them."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser

from core.strict import mark_json

MAX_DEPTH = 32  # nesting of lists and objects; real requests use 3 or 4
# A JSON string (the unrolled form: the regex engine runs over a 40 MB base64 image at
# once), or one of the marks that add an item or a level.
JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')


class UnsafeValue(ValueError):
    """A value the database or A1111 cannot take; the message says where and why."""


def check_value(value: Any, where: str = "body", depth: int = 0) -> None:
    """Refuse NUL characters (PostgreSQL text and JSON cannot hold them), non-finite numbers
    (NaN is not JSON) and absurd nesting, anywhere in a parsed body."""
    if depth > MAX_DEPTH:
        raise UnsafeValue(f"{where}: nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        if "\x00" in value:
            raise UnsafeValue(f"{where}: contains a NUL character (\\u0000); remove it.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"{where}: {value} is not a finite number.")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeValue(f"{where}: object keys must be strings, not {key!r}.")
            check_value(key, where, depth + 1)
            check_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_value(item, f"{where}[{index}]", depth + 1)


def check_json_shape(text: str) -> None:
    """Refuse a body with more than HUB_MAX_JSON_ITEMS items or MAX_DEPTH levels, while
    reading it and before any parser builds it: a 60 MB array took 28 s of CPU and 748 MB
    to parse only to be ignored. Stops at the first mark over a limit."""
    limit, items, depth = settings.HUB_MAX_JSON_ITEMS, 0, 0
    for match in JSON_TOKEN.finditer(text):
        mark = match.group()
        if mark[0] == '"':
            continue
        if mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeValue(f"nested more than {MAX_DEPTH} levels deep.")
        elif mark in "]}":
            depth -= 1
        items += 1
        if items > limit:
            raise UnsafeValue(
                f"more than {limit:,} items (HUB_MAX_JSON_ITEMS); no request the hub takes "
                "is this large."
            )


def _refuse_constant(name: str):
    raise UnsafeValue(f"{name} is not valid JSON; send a finite number.")


class HubJSONParser(JSONParser):
    """DRF's JSON parser, plus the checks of ``check_value``; the body comes back marked
    as JSON, so core.strict holds its values to their declared types."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            check_json_shape(text)
            data = json.loads(text, parse_constant=_refuse_constant)
            check_value(data)
        except UnsafeValue as exc:
            raise ParseError(f"The JSON body was refused: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The JSON body could not be read: {exc}") from None
        return mark_json(data)  # its values must have their declared JSON types: core.strict


# Operations that take files accept multipart too; everything else is JSON only (and the
# OpenAPI document says so, so generated clients send JSON).
JSON_ONLY = [HubJSONParser]
JSON_AND_FILES = [HubJSONParser, MultiPartParser]
