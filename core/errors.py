"""One JSON error shape for the whole API.

Every error body is ``{"error": <stable code>, "detail": <what is wrong and how to fix it>}``;
validation errors add ``"fields": {field: [messages]}``. Clients switch on ``error``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable code, raised from services and views alike."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"

    def __init__(
        self, detail: str, code: str | None = None, status_code: int | None = None, **extra
    ):
        super().__init__(detail, code)
        self.error_code = code or self.default_code
        if status_code:
            self.status_code = status_code
        self.extra = extra


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class TooManyRequests(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_requests"


class BackendUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "backend_unavailable"


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_api_key",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.ParseError: "malformed_request",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "too_many_requests",
}


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = ApiError(
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes of form "
            "fields; send images as files, or fewer of them.",
            code="request_too_large",
            status_code=413,
        )
    elif isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        exc = ApiError(
            f"Too many parts in the form ({exc}). Send at most "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES} files and "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.",
            code="malformed_request",
        )
    elif isinstance(exc, SuspiciousOperation):
        exc = ApiError(f"The request was refused: {exc}.", code="malformed_request")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django's handler500 answer (JSON, logged)
    if isinstance(exc, ApiError):
        body = {"error": exc.error_code, "detail": str(exc.detail), **exc.extra}
    elif isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {
            "error": "invalid_request",
            "detail": "The request has invalid fields: " + _flatten(fields),
            "fields": fields,
        }
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        body = {
            "error": "unsupported_media_type",
            "detail": f"{_flatten(exc.detail)} Send a JSON body (`json=` with Python requests). "
            "Operations that take images also take multipart with the files (`files=` "
            "together with `data=`); /docs lists each operation's body types.",
        }
    elif isinstance(exc, exceptions.NotAuthenticated):
        body = {
            "error": "not_authenticated",
            "detail": "An API key is required: send `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>`. `.venv/bin/python manage.py create_api_key NAME` makes one.",
        }
    else:
        code = next((c for t, c in _CODES.items() if isinstance(exc, t)), "error")
        body = {"error": code, "detail": _flatten(exc.detail)}
    return Response(body, status=response.status_code, headers=_keep_headers(response))


def _keep_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}


# Django's own handlers, for errors raised outside a DRF view (URL resolving, middleware):
# the same JSON shape as every other error, never Django's HTML page.
def json_400(request, exception=None):
    return JsonResponse(
        {"error": "malformed_request", "detail": f"The request was refused: {exception}."},
        status=400,
    )


def json_403(request, exception=None):
    return JsonResponse(
        {"error": "forbidden", "detail": f"The request was refused: {exception}."}, status=403
    )


def json_404(request, exception=None):
    return JsonResponse(
        {"error": "not_found", "detail": f"No endpoint at {request.path}. See /docs."}, status=404
    )


def json_500(request):
    return JsonResponse(
        {"error": "server_error", "detail": "Internal error; it has been logged."}, status=500
    )
