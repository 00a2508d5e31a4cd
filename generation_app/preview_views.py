"""GET /jobs/{id}/preview: the latest live preview of a running job."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from core.auth import check_user_access
from core.errors import NotFound
from core.serializers import ErrorSerializer
from generation_app.images import preview_path
from generation_app.models import Job


class JobPreviewView(APIView):
    """A small WebP of the image being sampled, replaced as A1111's live preview changes
    (at most about once a second). Only while the job runs; for keys that may see the job."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "v",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="Cache buster from preview_url; the latest preview is served anyway.",
            )
        ],
        responses={
            (200, "image/webp"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The latest live preview"
            ),
            401: ErrorSerializer,
            403: ErrorSerializer,
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
        job = Job.objects.only("id", "user_id", "status").filter(pk=job_id).first()
        if job is None:
            raise NotFound(
                f"No job {job_id}. Job ids come from POST /generate/*.", code="job_not_found"
            )
        check_user_access(request, job.user_id)
        path = preview_path(str(job.pk))
        try:
            if job.status != Job.Status.RUNNING:
                raise FileNotFoundError
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(
                f"Job {job.pk} has no live preview ({job.status}). Previews exist only while a "
                "job runs; GET /jobs/{id} gives preview_url when there is one.",
                code="preview_not_found",
            ) from None
        response = FileResponse(handle, content_type="image/webp")
        response["Cache-Control"] = "no-store"
        return response
