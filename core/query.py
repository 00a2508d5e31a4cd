"""Query parameters, read the same way by every view.

A view declares its query as a serializer (``parameters=[TheQuerySerializer]`` in its
``extend_schema``, so the document lists exactly what is checked) and reads it with
``read_query(request, TheQuerySerializer)``. An unknown enum value, a malformed number or
boolean, a blank value or one out of range is a 400 ``invalid_request`` whose ``fields``
name the parameter and say what to send instead — never silently ignored or defaulted.

DRF reads a QueryDict like an HTML form, where a blank value means "left out": here the
query is read as plain values (the last one of a repeated parameter), so ``?enabled=`` is
a blank value, not the default. The fields below carry messages that say how to fix the
value; use them in every query serializer.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from core.errors import ApiError

TRUE, FALSE = "true", "false"


class QueryBooleanField(serializers.BooleanField):
    """``true`` or ``false``, nothing else: the document says boolean, so ``1``, ``yes``
    or ``null`` are refused rather than guessed at."""

    default_error_messages = {
        "invalid": 'Send "true" or "false", not "{input}".',
    }

    def to_internal_value(self, data: Any) -> bool | None:
        if data is True or data is False:
            return data
        if data == TRUE:
            return True
        if data == FALSE:
            return False
        self.fail("invalid", input=data)


class QueryChoiceField(serializers.ChoiceField):
    """One of the listed values; the message lists them."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, **kwargs)
        allowed = ", ".join(str(c) for c in self.choices)
        self.error_messages["invalid_choice"] = f'"{{input}}" is not one of: {allowed}.'


class QueryIntegerField(serializers.IntegerField):
    """A whole number; the message gives the range."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            bounds = f" from {low} to {high}"
        elif low is not None:
            bounds = f" of at least {low}"
        else:
            bounds = ""
        self.error_messages["invalid"] = f"Send a whole number{bounds}, not this value."
        self.error_messages["max_string_length"] = "Send a shorter number."


class QueryCharField(serializers.CharField):
    """Text; blank only where the field allows it (then it means "no filter")."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.error_messages["blank"] = "Send a value, or leave the parameter out."


class PageQuerySerializer(serializers.Serializer):
    """``limit`` and ``offset`` of a limit/offset list (core.serializers'
    BoundedLimitOffsetPagination): an offset past the end is an empty page."""

    limit = QueryIntegerField(
        required=False, default=20, min_value=1, max_value=100, help_text="Rows per page."
    )
    offset = QueryIntegerField(
        required=False, default=0, min_value=0, help_text="Rows to skip (past the end: none)."
    )


def query_values(request: Request, serializer_class: type[serializers.Serializer]) -> dict:
    """The query as plain values: a list for a ListField, else the last value sent."""
    params = request.query_params
    fields = serializer_class().fields
    return {
        name: params.getlist(name)
        if isinstance(fields.get(name), serializers.ListField)
        else params[name]
        for name in params
    }


def read_query(request: Request, serializer_class: type[serializers.Serializer]) -> dict:
    """The validated query of ``request``; a 400 naming each bad parameter otherwise. A
    parameter the operation does not take is refused too: a typo (``?serach=``) would
    otherwise answer as if no filter had been asked for."""
    serializer = serializer_class(data=query_values(request, serializer_class))
    known = serializer.fields
    unknown = {
        name: [f"Not a parameter of this operation; it takes: {', '.join(known)}."]
        for name in request.query_params
        if name not in known
    }
    if not serializer.is_valid() or unknown:
        fields = {**unknown, **serializer.errors}
        named = "; ".join(f"{name}: {' '.join(map(str, errs))}" for name, errs in fields.items())
        raise ApiError(f"Invalid query parameters — {named}", code="invalid_request", fields=fields)
    return serializer.validated_data


class SignedLinkQuerySerializer(serializers.Serializer):
    """The query of a signed link (core.links): both parts as the hub gave them."""

    expires = QueryIntegerField(
        required=False, min_value=0, help_text="From a signed URL: when it expires (Unix seconds)."
    )
    signature = QueryCharField(
        required=False,
        max_length=200,
        help_text="From a signed URL: opens this one file without an API key.",
    )


class PreviewQuerySerializer(SignedLinkQuerySerializer):
    """The query of a live preview's signed link."""

    v = QueryCharField(
        required=False,
        max_length=100,
        help_text="Cache buster from preview_url; the latest preview is served anyway.",
    )
