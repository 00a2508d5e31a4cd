"""Uploads bounded while they stream in: only the file fields an operation declares, at
most so many files and bytes. Nothing is read whole (or base64-encoded) before these
checks pass, so a request full of junk files costs a worker a few kilobytes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.core.files.uploadhandler import (
    FileUploadHandler,
    MemoryFileUploadHandler,
    TemporaryFileUploadHandler,
)
from rest_framework.request import Request

from core.errors import ApiError


class FileFields:
    """The file fields one operation takes: names, and patterns such as ``image_<n>``."""

    def __init__(self, names: Iterable[str] = (), patterns: Iterable[str] = ()):
        self.names = frozenset(names)
        self.patterns = [re.compile(p) for p in patterns]

    def allows(self, field: str) -> bool:
        return field in self.names or any(p.fullmatch(field) for p in self.patterns)

    def describe(self) -> str:
        listed = sorted(self.names) + [p.pattern for p in self.patterns]
        return ", ".join(listed) if listed else "none (send JSON)"


NO_FILES = FileFields()


class BoundedUploadHandler(FileUploadHandler):
    """First in the chain: refuses a file field the operation does not declare, and stops
    the upload as soon as one file, or all of them, pass the limits."""

    def __init__(self, request=None, fields: FileFields = NO_FILES):
        super().__init__(request)
        self.fields = fields
        self.files = 0
        self.total = 0
        self.current = 0

    def new_file(self, field_name, *args, **kwargs):
        if not self.fields.allows(field_name):
            raise ApiError(
                f"{field_name}: this operation takes no file under that name. File fields it "
                f"takes: {self.fields.describe()}.",
                code="unexpected_file",
            )
        self.files += 1
        if self.files > settings.HUB_MAX_UPLOAD_FILES:
            raise ApiError(
                f"More than {settings.HUB_MAX_UPLOAD_FILES} files in one request.",
                code="too_many_files",
                status_code=413,
            )
        self.current = 0
        super().new_file(field_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.current += len(raw_data)
        self.total += len(raw_data)
        if self.current > settings.HUB_MAX_UPLOAD_BYTES:
            raise ApiError(
                f"{self.field_name}: over the limit of {settings.HUB_MAX_UPLOAD_BYTES:,} bytes "
                "per file.",
                code="image_too_large",
                status_code=413,
            )
        if self.total > settings.HUB_MAX_UPLOAD_TOTAL_BYTES:
            raise ApiError(
                f"The files of this request are over {settings.HUB_MAX_UPLOAD_TOTAL_BYTES:,} "
                "bytes together; send fewer or smaller images.",
                code="request_too_large",
                status_code=413,
            )
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler keeps the file


def bound_uploads(request: Request, fields: FileFields) -> None:
    """Call before the body is read: small files stay in memory, big ones go to disk."""
    django_request = request._request  # DRF reads its handlers from the Django request
    django_request.upload_handlers = [
        BoundedUploadHandler(django_request, fields),
        MemoryFileUploadHandler(django_request),
        TemporaryFileUploadHandler(django_request),
    ]
