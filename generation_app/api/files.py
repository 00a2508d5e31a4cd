"""GET /jobs/{id}/preview: the latest live preview of a running job."""

from __future__ import annotations

import io
import mimetypes
import uuid

from django.db.models import Q
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from core.auth import check_admin
from core.errors import NotFound
from core.openapi import READ, errors
from core.query import PreviewQuerySerializer, SignedLinkQuerySerializer, read_query
from core.serializers import ErrorSerializer
from generation_app.media.links import (
    authorize,
    file_response,
    preview_signed_name,
    require_key_or_signature,
)
from generation_app.media.previews import read_preview
from generation_app.media.storage import open_stored
from generation_app.media.variants import ensure_variant
from generation_app.models import Job, JobImage


class JobImageView(APIView):
    """Stored images, thumbnails, compressed copies and grids: with the signed URL the hub
    gave (no key needed until it expires), or with a key that may see the job."""

    permission_classes: list = []  # a signed link or a key: see media.links

    @extend_schema(
        parameters=[SignedLinkQuerySerializer],
        responses={
            (200, "image/png"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The image (PNG, JPEG or WebP by its name)"
            ),
            **errors(
                READ,
                404,
                e403="Another user's image (forbidden), or an expired or wrong signed link "
                "(link_expired, link_invalid).",
            ),
        },
        tags=["jobs"],
        summary="A stored image",
        description="An image, thumbnail, compressed copy or grid of a job, by the path the "
        "result gave. Open it with the signed URL as given (no key needed until "
        "`expires`), or with an API key that may see the job.",
    )
    def get(self, request: Request, job_id, name: str) -> FileResponse:
        require_key_or_signature(request)
        read_query(request, SignedLinkQuerySerializer)
        job_id = str(job_id)
        path = f"{job_id}/{name}"
        stored = f"jobs/{path}"
        image = None
        if name and "/" not in name:  # only files the hub wrote: <job id>/<name>
            image = (
                JobImage.objects.select_related("job")
                .filter(job_id=_uuid_or_404(job_id))
                .filter(Q(file=stored) | Q(thumbnail=stored) | Q(compressed=stored))
                .only("job__user_id", "file", "thumbnail", "compressed", "variants")
                .first()
            )
        if image is None:
            raise NotFound(f"No image {path}.", code="image_not_found")
        seconds_left = authorize(request, stored, image.job.user_id, job_id)
        try:
            ensure_variant(image, stored)  # a thumbnail or compressed copy: made once
            handle = open_stored(stored)
        except FileNotFoundError:
            raise NotFound(
                f"The file for {path} is gone from media storage.", code="image_not_found"
            ) from None
        content_type = mimetypes.guess_type(stored)[0] or "application/octet-stream"
        return file_response(handle, content_type, seconds_left)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No job {value}.", code="job_not_found") from None


class JobPreviewView(APIView):
    """A small WebP of the image being sampled, replaced as A1111's live preview changes
    (at most about once a second). Only while the job runs; for keys that may see the job,
    or without a key through the signed preview_url of GET /jobs/{id}."""

    permission_classes: list = []  # a signed link or a key: see media.links

    @extend_schema(
        parameters=[PreviewQuerySerializer],
        responses={
            (200, "image/webp"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The latest live preview"
            ),
            401: ErrorSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="Another user's job (forbidden), or an expired or wrong signed "
                "link (link_expired, link_invalid).",
            ),
            404: OpenApiResponse(
                ErrorSerializer,
                description="No such job (job_not_found), or no preview: the job is not "
                "running, has none yet, or was sent with live_preview: false "
                "(preview_not_found).",
            ),
        },
        tags=["jobs"],
        summary="Live preview of a running job",
    )
    def get(self, request: Request, job_id) -> FileResponse:
        require_key_or_signature(request)
        read_query(request, PreviewQuerySerializer)
        job = Job.objects.only("id", "user_id", "status").filter(pk=job_id).first()
        if job is None:
            raise NotFound(
                f"No job {job_id}. Job ids come from POST /generate/*.", code="job_not_found"
            )
        authorize(request, preview_signed_name(job.pk), job.user_id, job.pk)
        data = read_preview(str(job.pk)) if job.status == Job.Status.RUNNING else None
        if data is None:
            raise NotFound(
                f"Job {job.pk} has no live preview ({job.status}). Previews exist only while a "
                "job runs; GET /jobs/{id} gives preview_url when there is one.",
                code="preview_not_found",
            )
        response = FileResponse(io.BytesIO(data), content_type="image/webp")
        response["Cache-Control"] = "no-store"
        return response


class JobImageOriginalView(APIView):
    """The original of an image the safety policy withheld or blurred: for moderators."""

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The original"),
            **errors(READ, 404, e403="Only a service key with the admin scope sees originals."),
        },
        tags=["jobs"],
        summary="The original of a withheld or blurred image (admin scope)",
    )
    def get(self, request: Request, job_id, index: int) -> FileResponse:
        check_admin(request, "The original of a withheld image")
        image = JobImage.objects.filter(job_id=job_id, index=index).first()
        if image is None:
            raise NotFound(f"Job {job_id} has no image {index}.", code="image_not_found")
        name = image.withheld or image.file
        try:
            handle = open_stored(name)
        except FileNotFoundError:
            raise NotFound("The file is gone from media storage.", code="image_not_found") from None
        return file_response(handle, mimetypes.guess_type(name)[0] or "image/png", None)
