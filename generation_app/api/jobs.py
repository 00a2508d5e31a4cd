"""Generation and job endpoints. Thin: validate, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import HasApiKey, IsServiceKey, check_user_access
from core.errors import ApiError, Conflict, NotFound
from core.links import absolute_url
from core.openapi import READ, errors, page_of
from core.query import read_query
from core.serializers import BoundedLimitOffsetPagination, ErrorSerializer
from generation_app.api.serializers import (
    JobListQuerySerializer,
    JobListSerializer,
    QueueSerializer,
    ResultQuerySerializer,
)
from generation_app.delivery import status
from generation_app.delivery.documents import (
    STATUS_FIELDS,
    JobResultSerializer,
    JobSerializer,
    job_body,
    result_body,
)
from generation_app.jobs.cancel import cancel_job
from generation_app.jobs.selectors import queue_overview, user_jobs
from generation_app.models import Job, JobImage


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


# What a result answer reads of its job: not the payload (megabytes of base64 for an img2img).
RESULT_FIELDS = (
    "id", "user_id", "status", "message", "progress", "warnings", "info",
    "images_pruned_at", "images_pruned_reason",
)  # fmt: skip


CANCEL_RESPONSES = {
    200: JobSerializer,
    **errors(READ, 404, 409, e409="The job already finished (completed, failed or cancelled)."),
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
        # The call every client polls: a finished job from this process's memory, else
        # only the columns its body shows.
        base = absolute_url(request, "/")
        cached = status.final_body(str(job_id), base)
        if cached is not None:
            check_user_access(request, cached[0])
            return Response(cached[1])
        job = get_job(request, job_id, only=STATUS_FIELDS)
        body = job_body(job, request)
        if job.is_final:
            status.keep_final_body(str(job_id), base, job.user_id, body)
        return Response(body)

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
        parameters=[ResultQuerySerializer],
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
            **errors(READ, 400, 404),
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
        as_urls = read_query(request, ResultQuerySerializer)["format"] == "url"
        job = get_job(request, job_id, only=RESULT_FIELDS)
        check_result_ready(job)
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
        parameters=[JobListQuerySerializer],
        responses={200: page_of(JobListSerializer), **errors(READ, 400)},
        operation_id="jobs_list",
        tags=["jobs"],
        summary="A user's jobs, newest first",
        description="Each row's `thumbnail_url` is signed (opens without a key until it "
        "expires) and null once the job's images were pruned.",
    )
    def get(self, request: Request) -> Response:
        query = read_query(request, JobListQuerySerializer)
        user_id = query.get("user_id") or request.user.user_id
        if user_id:
            check_user_access(request, user_id)
        jobs = user_jobs(user_id, status=query.get("status"), kind=query.get("kind"))
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(
            JobListSerializer(page, many=True, context={"request": request}).data
        )


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
