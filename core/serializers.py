"""Shapes every app shares: the error body, and fields that behave the same everywhere."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.pagination import LimitOffsetPagination


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


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset, with an offset the database can take: a huge one (past 2**63)
    would be a 500 on both SQLite and PostgreSQL. Past the end is an empty page anyway."""

    default_limit = 20
    max_limit = 100
    max_offset = 1_000_000

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)
