"""Shapes every app shares: the error body, and fields that behave the same everywhere."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Stable machine-readable code.")
    detail = serializers.CharField(help_text="What is wrong and how to fix it.")
    fields = serializers.DictField(required=False, help_text="Per-field messages (400 only).")


class OptionalBooleanField(serializers.BooleanField):
    """A boolean that stays absent when a multipart form leaves it out.

    DRF's BooleanField turns a missing HTML-form value into False, which would inject
    ``enable_hr=False`` into every multipart request and break "a partial dict stays partial".
    """

    default_empty_html = empty
