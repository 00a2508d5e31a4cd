"""GET /jobs/{id}/preview: the latest live preview of a running job."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from core.errors import NotFound
from core.serializers import ErrorSerializer
from generation_app.images import open_stored, preview_name, preview_version
from generation_app.media import authorize, preview_signed_name, require_key_or_signature
from generation_app.models import Job


class JobPreviewView(APIView):
    """A small WebP of the image being sampled, replaced as A1111's live preview changes
    (at most about once a second). Only while the job runs; for keys that may see the job,
    or without a key through the signed preview_url of GET /jobs/{id}."""

    permission_classes: list = []  # a signed link or a key: see generation_app.media

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "v",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="Cache buster from preview_url; the latest preview is served anyway.",
            ),
            OpenApiParameter(
                "expires",
                int,
                OpenApiParameter.QUERY,
                required=False,
                description="From preview_url: when the signed link expires (Unix seconds).",
            ),
            OpenApiParameter(
                "signature",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="From preview_url: opens this job's preview without an API key "
                "until `expires`.",
            ),
        ],
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
        job = Job.objects.only("id", "user_id", "status").filter(pk=job_id).first()
        if job is None:
            raise NotFound(
                f"No job {job_id}. Job ids come from POST /generate/*.", code="job_not_found"
            )
        authorize(request, preview_signed_name(job.pk), job.user_id, job.pk)
        handle = None
        for _ in range(2):  # a preview replaced between listing and opening: take the new one
            version = preview_version(str(job.pk)) if job.status == Job.Status.RUNNING else None
            if version is None:
                break
            try:
                handle = open_stored(preview_name(str(job.pk), version))
                break
            except FileNotFoundError:
                continue
        if handle is None:
            raise NotFound(
                f"Job {job.pk} has no live preview ({job.status}). Previews exist only while a "
                "job runs; GET /jobs/{id} gives preview_url when there is one.",
                code="preview_not_found",
            )
        response = FileResponse(handle, content_type="image/webp")
        response["Cache-Control"] = "no-store"
        return response
