"""Generation and job endpoints. Thin: validate, call one service, render."""

from __future__ import annotations

import json
import mimetypes
import uuid

from django.conf import settings
from django.db.models import Q
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import HasApiKey, IsServiceKey, check_user_access
from core.errors import ApiError, Conflict, NotFound
from core.limits import KeySlots, releasing
from core.openapi import GENERATE, READ, errors, page_of, upload_variant
from core.parsers import JSON_AND_FILES
from core.serializers import BoundedLimitOffsetPagination, ErrorSerializer
from core.throttles import check_generation_rate
from core.uploads import NO_FILES, FileFields
from generation_app import intake, streams, webhooks
from generation_app.context import GenerationContext, read_context
from generation_app.images import open_stored
from generation_app.media import authorize, file_response, require_key_or_signature
from generation_app.models import Job, JobImage
from generation_app.passthrough import check_scripts
from generation_app.selectors import queue_overview, user_jobs
from generation_app.serializers import (
    STATUS_FIELDS,
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
        img2img = self.kind in (Job.Kind.IMG2IMG, Job.Kind.OUTPAINT) or "init_images" in data
        check_scripts(request.user, data, img2img=img2img)
        context = read_context(data["user_id"], data.get("preset_id"))
        job_request = self.build(data, request, context)
        job_request.priority = getattr(request.user, "priority", 0)
        job_request.fingerprint = fingerprint
        job_request.webhook_url, job_request.api_key_id = webhooks.webhook_for(
            data.get("webhook_url"), request.user
        )
        job_request.base_url = request.build_absolute_uri("/").rstrip("/")
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


GENERATE_RESPONSES = {
    202: OpenApiResponse(JobSerializer, description="Queued: poll `links.self` (GET /jobs/{id})."),
    200: OpenApiResponse(
        JobSerializer, description="A replay of the same Idempotency-Key: the first job."
    ),
    **errors(
        GENERATE,
        e404="A preset_id, LoRA or result named by the request does not exist.",
        e409="No enabled backend has what the request needs (an extension, a checkpoint).",
        e429="The user has HUB_MAX_ACTIVE_JOBS_PER_USER jobs queued or running, or sent too "
        "many generation requests; `Retry-After` says when to try again.",
        e503="No backend is enabled or healthy: the job could not be queued.",
    ),
}

GENERATE_DESCRIPTION = (
    "Validates the request (400 with `fields` on bad input), merges server defaults < the "
    "user's session settings < the preset (`preset_id`) < the request, adds the session's "
    "LoRAs as `<lora:name:weight>` tags, and queues one job. Answers 202 at once with "
    "`job_id`, `status` and `queue_position`; poll GET /jobs/{job_id} (or follow "
    "/jobs/{job_id}/events, or set `webhook_url`) and fetch GET /jobs/{job_id}/result."
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retrying with the same key and body returns the first job (200), never a "
    "second; the same key with another body is a 422.",
)

BRIEF_TXT2IMG = OpenApiExample(
    "The brief's request",
    value={
        "user_id": "user123",
        "prompt": "beautiful anime girl, detailed face",
        "negative_prompt": "low quality, blurry",
        "checkpoint": "animefull_final.safetensors",
        "width": 512,
        "height": 768,
        "steps": 20,
        "cfg_scale": 7.0,
        "sampler_name": "DPM++ 2M Karras",
    },
    request_only=True,
)

MINIMAL_TXT2IMG = OpenApiExample(
    "Only a prompt (server and session defaults for the rest)",
    value={"user_id": "user123", "prompt": "a lighthouse at dusk, oil painting"},
    request_only=True,
)


def _generate_schema(
    serializer, summary: str, files: dict[str, str] | None = None, many=(), examples=()
):
    """JSON always; multipart, with its own schema, only for kinds that take files."""
    request = {"application/json": serializer}
    if files:
        request["multipart/form-data"] = upload_variant(serializer, files, many)
    return extend_schema(
        request=request,
        responses=GENERATE_RESPONSES,
        parameters=[IDEMPOTENCY_KEY],
        examples=list(examples),
        summary=summary,
        description=GENERATE_DESCRIPTION,
        tags=["generation"],
    )


class Txt2ImgView(GenerateView):
    @_generate_schema(
        Txt2ImgRequestSerializer, "Text to image", examples=[BRIEF_TXT2IMG, MINIMAL_TXT2IMG]
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class Img2ImgView(GenerateView):
    serializer_class = Img2ImgRequestSerializer
    kind = Job.Kind.IMG2IMG
    file_fields = FileFields({"init_image", "init_images", "mask"})
    parser_classes = JSON_AND_FILES

    @_generate_schema(
        Img2ImgRequestSerializer,
        "Image to image; with a mask, inpainting",
        files={
            "init_image": "The picture to start from.",
            "init_images": "Several pictures (at most batch_size).",
            "mask": "White = repaint (inpainting).",
        },
        many=("init_images",),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.img2img(data, request, context)


class OutpaintView(GenerateView):
    serializer_class = OutpaintRequestSerializer
    kind = Job.Kind.OUTPAINT
    file_fields = FileFields({"image"})
    parser_classes = JSON_AND_FILES

    @_generate_schema(
        OutpaintRequestSerializer,
        "Extend an image beyond its borders",
        files={"image": "The picture to extend.", "mask": "Optional mask (white = repaint)."},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.outpaint(data, request, context)


def get_job(request: Request, job_id, *, full: bool = False, only: tuple = ()) -> Job:
    """The job, if the caller may see it. Without ``full`` the big JSON columns (the
    payload may hold megabytes of base64 images) are not loaded: a status poll needs none;
    with ``only``, just those columns."""
    if only:
        # No join: the status poll of a queued job (the most frequent) needs no backend,
        # and on PostgreSQL the join cost more than a running job's separate read of it.
        jobs = Job.objects.only(*only)
    else:
        jobs = Job.objects.select_related("backend")
        if not full:
            jobs = jobs.defer("payload", "request", "info")
    try:
        job = jobs.get(pk=job_id)  # get(): no ORDER BY to compile, unlike first()
    except Job.DoesNotExist:
        raise NotFound(
            f"No job {job_id}. Job ids come from POST /generate/*.", code="job_not_found"
        ) from None
    check_user_access(request, job.user_id)
    return job


CANCEL_RESPONSES = {
    200: JobSerializer,
    **errors(READ, 404, e409="The job already finished (completed, failed or cancelled)."),
}
CANCEL_DESCRIPTION = (
    "A queued job is cancelled at once; a running one is interrupted on its backend, and the "
    "images that already finished are kept (GET /jobs/{job_id}/result gives them with "
    "`status: cancelled`). Answers the job as it is now."
)


class JobDetailView(APIView):
    @extend_schema(
        responses={200: JobSerializer, **errors(READ, 404)},
        tags=["jobs"],
        summary="Job status and progress",
        description="`status` (queued, running, completed, failed, cancelled), `progress` "
        "0..1, `eta_seconds`, `queue_position` while queued, the `message` of a failure, "
        "and `links` to the result, the event stream and the live preview. Poll it every "
        "second or two, or follow /jobs/{job_id}/events instead.",
    )
    def get(self, request: Request, job_id) -> Response:
        # The call every client polls: only the columns its body shows.
        return Response(job_body(get_job(request, job_id, only=STATUS_FIELDS), request))

    @extend_schema(
        responses=CANCEL_RESPONSES,
        tags=["jobs"],
        summary="Cancel a job",
        description=CANCEL_DESCRIPTION,
    )
    def delete(self, request: Request, job_id) -> Response:
        return _cancel(request, job_id)


class JobCancelView(APIView):
    @extend_schema(
        request=None,
        responses=CANCEL_RESPONSES,
        tags=["jobs"],
        summary="Cancel a job (POST form)",
        description=CANCEL_DESCRIPTION,
    )
    def post(self, request: Request, job_id) -> Response:
        return _cancel(request, job_id)


def _cancel(request: Request, job_id) -> Response:
    return Response(job_body(cancel_job(get_job(request, job_id)), request))


class JobResultView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["base64", "url"],
                description="url: `images` are signed URLs instead of base64 (smaller answer).",
            )
        ],
        responses={
            200: JobResultSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="No images to give: queued or running (job_not_completed: poll "
                "GET /jobs/{id} or follow /events), failed (job_failed: the failure message; "
                "fix and resubmit), cancelled before any image finished (job_cancelled).",
            ),
            410: OpenApiResponse(
                ErrorSerializer,
                description="The images were deleted by retention or the user's quota "
                "(images_pruned); the job's record remains.",
            ),
            **errors(READ, 404),
        },
        tags=["jobs"],
        summary="Images of a finished job",
        description="The images of a completed job, or those that finished before a job was "
        "cancelled (`status: cancelled`). Every URL is signed: it opens without an API key "
        "until `expires_at` (HUB_IMAGE_URL_SECONDS), so a bot can post it as is. A batch "
        "also comes as one `grid_url`; each item has a `compressed_url` (JPEG under "
        "HUB_COMPRESSED_MAX_BYTES) and its `variants`.",
    )
    def get(self, request: Request, job_id) -> Response:
        job = get_job(request, job_id, full=True)
        check_result_ready(job)
        as_urls = request.query_params.get("format") == "url"
        return Response(result_body(job, request, as_urls))


def check_result_ready(job: Job) -> None:
    """Raise the error that says why a job has no images to give, and what to do."""
    extra = {"status": job.status, "message": job.message}
    if job.images_pruned_at is not None:
        raise ApiError(
            f"The images of job {job.pk} were deleted on {job.images_pruned_at:%Y-%m-%d %H:%M} "
            f"UTC ({job.images_pruned_reason or 'pruned'}). The job's parameters are kept "
            "(GET /jobs/{id}); submit the request again to make new images.",
            code="images_pruned",
            status_code=410,
            pruned_at=job.images_pruned_at.isoformat(),
            **extra,
        )
    if job.status == Job.Status.COMPLETED:
        return
    if job.status in Job.ACTIVE:
        where = (
            "is queued" if job.status == Job.Status.QUEUED else f"is running ({job.progress:.0%})"
        )
        raise Conflict(
            f"Job {job.pk} {where}; it has no images yet. Poll GET /jobs/{job.pk} (or follow "
            f"GET /jobs/{job.pk}/events) until its status is completed, then ask again.",
            code="job_not_completed",
            **extra,
        )
    if job.status == Job.Status.FAILED:
        raise Conflict(
            f"Job {job.pk} failed, so it has no images: {job.message or 'no reason recorded'} "
            "Fix what the message says and submit the request again.",
            code="job_failed",
            **extra,
        )
    if not any(i.role == JobImage.Role.IMAGE for i in job.images.all()):
        raise Conflict(
            f"Job {job.pk} was cancelled before any image finished ({job.message}); it has no "
            "images. Submit the request again to make them.",
            code="job_cancelled",
            **extra,
        )


class JobListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("user_id", str),
            OpenApiParameter("status", str, enum=Job.Status.values),
            OpenApiParameter("kind", str, enum=Job.Kind.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: page_of(JobListSerializer), **errors(READ, 400)},
        operation_id="jobs_list",
        tags=["jobs"],
        summary="A user's jobs, newest first",
        description="Each row's `thumbnail_url` is signed (opens without a key until it "
        "expires) and null once the job's images were pruned.",
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
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="A text/event-stream: `event: progress` with the job's JSON "
                "(as GET /jobs/{job_id}) on every change, then `event: done` with its final "
                "state.",
            ),
            **errors(READ, 404, e429="Too many open streams for this key or this hub."),
        },
        tags=["jobs"],
        summary="Stream progress (SSE)",
        description="Server-sent events: one `progress` event per change, then `done` with "
        "the final state. A stream lasts at most HUB_EVENT_STREAM_SECONDS; EventSource "
        "clients reconnect by themselves (the `retry:` line says when). One stream for all "
        "of a user's jobs: GET /users/{user_id}/events.",
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
    """Stored images, thumbnails, compressed copies and grids: with the signed URL the hub
    gave (no key needed until it expires), or with a key that may see the job."""

    permission_classes: list = []  # a signed link or a key: see generation_app.media

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "expires",
                int,
                OpenApiParameter.QUERY,
                required=False,
                description="From a signed URL: when it expires (Unix seconds).",
            ),
            OpenApiParameter(
                "signature",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="From a signed URL: opens this one file without an API key.",
            ),
        ],
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
    def get(self, request: Request, path: str) -> FileResponse:
        require_key_or_signature(request)
        job_id, _, name = path.partition("/")
        stored = f"jobs/{path}"
        image = None
        if name and "/" not in name:  # only files the hub wrote: <job id>/<name>
            image = (
                JobImage.objects.select_related("job")
                .filter(job_id=_uuid_or_404(job_id))
                .filter(Q(file=stored) | Q(thumbnail=stored) | Q(compressed=stored))
                .only("job__user_id", "file", "thumbnail", "compressed")
                .first()
            )
        if image is None:
            raise NotFound(f"No image {path}.", code="image_not_found")
        seconds_left = authorize(request, stored, image.job.user_id, job_id)
        try:
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


class QueueView(APIView):
    permission_classes = [HasApiKey, IsServiceKey]

    @extend_schema(
        responses={200: QueueSerializer, **errors(READ)},
        tags=["jobs"],
        summary="The whole queue (service keys)",
        description="Depth per user and per checkpoint, what each backend runs, and the "
        "oldest wait: what an operator or a bot's /queue command shows.",
    )
    def get(self, request: Request) -> Response:
        return Response(QueueSerializer(queue_overview()).data)
