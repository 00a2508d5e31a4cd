"""Links to a job's stored images and previews, and who may open them.

A link the hub hands out is absolute (HUB_PUBLIC_URL when set) and signed for the exact
stored file (core.links): it opens that file without an API key until it expires
(HUB_IMAGE_URL_SECONDS, a day by default), so a Discord bot can post it as is. Without a
valid signature, the request needs a key that may see the job, as for every endpoint.
"""

from __future__ import annotations

import time

from django.http import FileResponse
from django.urls import reverse
from rest_framework import exceptions

from core.auth import HasApiKey, Principal, check_user_access
from core.errors import ApiError
from core.links import LinkState, absolute_url, check_signed, signed_query

PREVIEW_SCOPE = "preview"  # a preview link opens the job's latest preview, whichever it is


def image_url(request, name: str, expires: int | None = None) -> str:
    job_id, _, file_name = name.removeprefix("jobs/").partition("/")
    path = reverse("job-image", args=[job_id, file_name])
    return f"{absolute_url(request, path)}?{signed_query(name, expires)}"


def preview_signed_name(job_id) -> str:
    return f"jobs/{job_id}/{PREVIEW_SCOPE}"


def preview_url(request, job_id, version: str, expires: int | None = None) -> str:
    path = f"{reverse('job-detail', args=[job_id])}/preview"
    query = signed_query(preview_signed_name(job_id), expires)
    return f"{absolute_url(request, path)}?v={version}&{query}"


def require_key_or_signature(request) -> None:
    """401 at once for a request with neither a key nor a signed link's parameters."""
    params = request.query_params
    if not isinstance(request.user, Principal) and not (
        params.get("signature") or params.get("expires")
    ):
        raise exceptions.NotAuthenticated(HasApiKey.message)


def authorize(request, signed_name: str, user_id: str, job_id) -> float | None:
    """Let the request open ``signed_name`` of ``user_id``'s job: a valid signature for
    exactly that file (returns its seconds left), or a key that may see the job (returns
    None). Otherwise 401 (no key, no signature) or 403 (expired or wrong signature)."""
    state = check_signed(signed_name, request.query_params)
    if state == LinkState.VALID:
        return max(0.0, int(request.query_params["expires"]) - time.time())
    if isinstance(request.user, Principal):
        check_user_access(request, user_id)
        return None
    if state == LinkState.ABSENT:
        raise exceptions.NotAuthenticated(HasApiKey.message)
    if state == LinkState.EXPIRED:
        raise ApiError(
            "This image link expired. Ask for a fresh one with GET "
            f"/jobs/{job_id}/result?format=url (links last HUB_IMAGE_URL_SECONDS), or send "
            "an API key that may see the job.",
            code="link_expired",
            status_code=403,
        )
    raise ApiError(
        "This link's signature does not match the file (a link opens only the file it was "
        f"made for). Use the URL exactly as GET /jobs/{job_id}/result gave it.",
        code="link_invalid",
        status_code=403,
    )


def file_response(handle, content_type: str, seconds_left: float | None) -> FileResponse:
    response = FileResponse(handle, content_type=content_type)
    if seconds_left is not None:  # the URL is the permission: caches may keep it that long
        response["Cache-Control"] = f"public, max-age={int(seconds_left)}, immutable"
    else:
        response["Cache-Control"] = "private, max-age=3600"
    return response
