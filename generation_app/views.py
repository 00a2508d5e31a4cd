"""Generation and job endpoints. Thin: validate, call one service, render."""

from __future__ import annotations

import json
import mimetypes
import uuid
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import HasApiKey, IsServiceKey, check_user_access
from core.errors import Conflict, NotFound
from core.limits import KeySlots, releasing
from core.serializers import BoundedLimitOffsetPagination, ErrorSerializer
from core.throttles import check_generation_rate
from core.uploads import NO_FILES, FileFields
from generation_app import intake, streams
from generation_app.context import GenerationContext, read_context
from generation_app.models import Job, JobImage
from generation_app.selectors import queue_overview, user_jobs
from generation_app.serializers import (
    Img2ImgRequestSerializer,
    JobListSerializer,
    JobResultSerializer,
    JobSerializer,
    OutpaintRequestSerializer,
    QueueSerializer,
    Txt2ImgRequestSerializer,
    job_body,
    result_body,
)
from generation_app.services import JobRequest, cancel_job, create_job

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    413: ErrorSerializer,
    429: ErrorSerializer,
}


class GenerateView(APIView):
    """Base for POST /generate/<kind>: validate, build the job, answer 202 at once."""

    serializer_class = Txt2ImgRequestSerializer
    kind = Job.Kind.TXT2IMG
    file_fields = NO_FILES  # multipart file fields this kind takes

    def post(self, request: Request) -> Response:
        received = intake.request_data(request, self.file_fields)
        fingerprint = intake.fingerprint(received)
        data = self.prepare(received, request)
        serializer = self.serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_user_access(request, data["user_id"])
        check_generation_rate(request, data["user_id"])
        context = read_context(data["user_id"], data.get("preset_id"))
        job_request = self.build(data, request, context)
        job_request.priority = getattr(request.user, "priority", 0)
        job_request.fingerprint = fingerprint
        job, created = create_job(job_request)
        body = job_body(job, request)
        headers = {"Location": body["links"]["self"]}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            headers=headers,
        )

    def prepare(self, data: dict, request: Request) -> dict:
        """Fill the raw request before validation (a hook for kinds that need it)."""
        return data

    def build(self, data: dict, request: Request, context: GenerationContext) -> JobRequest:
        return intake.txt2img(data, request, context, kind=self.kind)


def _generate_schema(serializer, summary: str):
    return extend_schema(
        request={"application/json": serializer, "multipart/form-data": serializer},
        responses={202: JobSerializer, 200: JobSerializer, **ERRORS},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the first job (200), never a second.",
            )  # fmt: skip
        ],
        summary=summary,
        tags=["generation"],
    )


class Txt2ImgView(GenerateView):
    @_generate_schema(Txt2ImgRequestSerializer, "Text to image")
    def post(self, request: Request) -> Response:
        return super().post(request)


class Img2ImgView(GenerateView):
    serializer_class = Img2ImgRequestSerializer
    kind = Job.Kind.IMG2IMG
    file_fields = FileFields({"init_image", "init_images", "mask"})

    @_generate_schema(Img2ImgRequestSerializer, "Image to image; with a mask, inpainting")
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.img2img(data, request, context)


class OutpaintView(GenerateView):
    serializer_class = OutpaintRequestSerializer
    kind = Job.Kind.OUTPAINT
    file_fields = FileFields({"image"})

    @_generate_schema(OutpaintRequestSerializer, "Extend an image beyond its borders")
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.outpaint(data, request, context)


def get_job(request: Request, job_id, *, full: bool = False) -> Job:
    """The job, if the caller may see it. Without ``full`` the big JSON columns (the
    payload may hold megabytes of base64 images) are not loaded: a status poll needs none."""
    jobs = Job.objects.select_related("backend")
    if not full:
        jobs = jobs.defer("payload", "request", "info")
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFound(
            f"No job {job_id}. Job ids come from POST /generate/*.", code="job_not_found"
        )
    check_user_access(request, job.user_id)
    return job


class JobDetailView(APIView):
    @extend_schema(
        responses={200: JobSerializer, **ERRORS}, tags=["jobs"], summary="Job status and progress"
    )
    def get(self, request: Request, job_id) -> Response:
        return Response(job_body(get_job(request, job_id), request))

    @extend_schema(
        responses={200: JobSerializer, 409: ErrorSerializer, **ERRORS},
        tags=["jobs"],
        summary="Cancel a job",
    )
    def delete(self, request: Request, job_id) -> Response:
        return _cancel(request, job_id)


class JobCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: JobSerializer, 409: ErrorSerializer, **ERRORS},
        tags=["jobs"],
        summary="Cancel a job",
    )
    def post(self, request: Request, job_id) -> Response:
        return _cancel(request, job_id)


def _cancel(request: Request, job_id) -> Response:
    return Response(job_body(cancel_job(get_job(request, job_id)), request))


class JobResultView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format", str, enum=["base64", "url"], description="url: leave the base64 out."
            )
        ],
        responses={200: JobResultSerializer, 409: ErrorSerializer, **ERRORS},
        tags=["jobs"],
        summary="Images of a completed job",
    )
    def get(self, request: Request, job_id) -> Response:
        job = get_job(request, job_id, full=True)
        if job.status != Job.Status.COMPLETED:
            raise Conflict(
                f"Job {job.pk} is {job.status}, not completed; poll GET /jobs/{job.pk} until it is.",
                code="job_not_completed",
                status=job.status,
            )
        as_urls = request.query_params.get("format") == "url"
        return Response(result_body(job, request, as_urls))


class JobListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("user_id", str),
            OpenApiParameter("status", str, enum=Job.Status.values),
            OpenApiParameter("kind", str, enum=Job.Kind.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: JobListSerializer(many=True), **ERRORS},
        tags=["jobs"],
        summary="A user's jobs, newest first",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        user_id = params.get("user_id") or request.user.user_id
        if user_id:
            check_user_access(request, user_id)
        filters = {}
        for field, choices in (("status", Job.Status.values), ("kind", Job.Kind.values)):
            value = params.get(field)
            if value and value not in choices:
                raise intake.bad_filter(field, value, choices)
            filters[field] = value
        jobs = user_jobs(user_id, **filters)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(
            JobListSerializer(page, many=True, context={"request": request}).data
        )


class EventStreamRenderer(renderers.BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class JobEventsView(APIView):
    """Server-sent events: one `progress` event per change, then `done` with the final state.

    A stream lasts at most HUB_EVENT_STREAM_SECONDS; EventSource clients reconnect by
    themselves (the `retry:` line says when)."""

    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    @extend_schema(
        responses={
            (200, "text/event-stream"): OpenApiResponse(description="SSE stream"),
            429: ErrorSerializer,
        },
        tags=["jobs"],
        summary="Stream progress (SSE)",
    )
    def get(self, request: Request, job_id) -> StreamingHttpResponse:
        job = get_job(request, job_id)
        release = _streams_per_key.acquire(request.user.key_id)
        try:
            stream = streams.job_events(job, request)
        except BaseException:
            release()
            raise
        response = StreamingHttpResponse(
            releasing(stream, release), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    @extend_schema(exclude=True)
    def head(self, request: Request, job_id) -> HttpResponse:
        """Headers only: a HEAD never opens (or holds) a stream."""
        get_job(request, job_id)
        response = HttpResponse(content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        return response


_streams_per_key = KeySlots(lambda: settings.HUB_MAX_EVENT_STREAMS_PER_KEY, "event streams")


class JobImageView(APIView):
    """Stored images and thumbnails, served to the keys that may see the job."""

    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(description="The image"), **ERRORS},
        tags=["jobs"],
    )
    def get(self, request: Request, path: str) -> FileResponse:
        job_id, _, name = path.partition("/")
        stored = f"jobs/{path}"
        image = None
        if name and "/" not in name:  # only files the hub wrote: <job id>/<name>
            image = (
                JobImage.objects.select_related("job")
                .filter(job_id=_uuid_or_404(job_id))
                .filter(Q(file=stored) | Q(thumbnail=stored))
                .first()
            )
        if image is None:
            raise NotFound(f"No image {path}.", code="image_not_found")
        check_user_access(request, image.job.user_id)
        file_path = Path(settings.MEDIA_ROOT) / stored
        if not file_path.is_file():
            raise NotFound(
                f"The file for {path} is gone from media storage.", code="image_not_found"
            )
        content_type = mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
        return FileResponse(file_path.open("rb"), content_type=content_type)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No job {value}.", code="job_not_found") from None


class QueueView(APIView):
    permission_classes = [HasApiKey, IsServiceKey]

    @extend_schema(
        responses={200: QueueSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
        tags=["jobs"],
        summary="The whole queue (service keys)",
        description="Depth per user and per checkpoint, what each backend runs, and the "
        "oldest wait: what an operator or a bot's /queue command shows.",
    )
    def get(self, request: Request) -> Response:
        return Response(QueueSerializer(queue_overview()).data)
