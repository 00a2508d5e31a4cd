"""JSON bodies hold to the types the OpenAPI document gives them.

DRF's fields coerce: a CharField takes ``0`` as ``"0"``, a BooleanField takes ``0``, ``1`` or
``"yes"``, a FloatField takes ``false`` as 0.0 and ``"1.5"`` as 1.5. That is right for an
HTML form or a multipart part (everything is text there) and wrong for JSON, where the
document says string, boolean or number and a client that sends another type has a bug
it should hear about. So a value read from a JSON body (core.parsers marks the body it
parsed) must have the JSON type of its field; form and multipart data keep DRF's reading.

``install()`` (from CoreConfig.ready) adds the check to DRF's scalar fields, once, for
every serializer of the hub: one rule, not one per serializer.
"""

from __future__ import annotations

from typing import Any

from rest_framework import fields


class JsonObject(dict):
    """A JSON body's top-level object, as core.parsers.HubJSONParser returns it."""


class JsonArray(list):
    """A JSON body's top-level array, as core.parsers.HubJSONParser returns it."""


def mark_json(data: Any) -> Any:
    """``data`` marked as read from a JSON body (objects and arrays; scalars as they are)."""
    if isinstance(data, dict):
        return JsonObject(data)
    if isinstance(data, list):
        return JsonArray(data)
    return data


def _from_json(field: fields.Field) -> bool:
    return isinstance(getattr(field.root, "initial_data", None), JsonObject | JsonArray)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# field class -> (what a JSON value of it must be, what to say otherwise)
RULES: dict[type, tuple] = {
    fields.CharField: (lambda v: isinstance(v, str), "Send a string (in quotes)."),
    fields.BooleanField: (lambda v: isinstance(v, bool), "Send true or false."),
    fields.IntegerField: (_is_number, "Send a number, not a string or a boolean."),
    fields.FloatField: (_is_number, "Send a number, not a string or a boolean."),
    fields.DecimalField: (_is_number, "Send a number, not a string or a boolean."),
}


def _checked(field_class: type, accepts, message: str):
    convert = field_class.to_internal_value

    def to_internal_value(self, data):
        if not accepts(data) and _from_json(self):
            raise fields.ValidationError(f"{message} Got {type(data).__name__}.", code="invalid")
        return convert(self, data)

    to_internal_value.json_checked = True
    return to_internal_value


def install() -> None:
    """Add the JSON type check to DRF's scalar fields (their subclasses inherit it)."""
    for field_class, (accepts, message) in RULES.items():
        if not getattr(field_class.to_internal_value, "json_checked", False):
            field_class.to_internal_value = _checked(field_class, accepts, message)
