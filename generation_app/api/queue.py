"""A user's own queue: its jobs with position and ETA, moving one, pausing and resuming,
cancelling them all; an operator's boost."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_admin, check_user_access
from core.openapi import READ, WRITE, errors
from generation_app.api.jobs import get_job
from generation_app.delivery.documents import JobSerializer, job_body
from generation_app.jobs import ordering
from generation_app.models import Job
from generation_app.scheduling.dispatcher import enqueue_dispatch

TAGS = ["queue"]


class MoveSerializer(serializers.Serializer):
    where = serializers.ChoiceField(choices=ordering.MOVES, required=False, default="before")
    before = serializers.UUIDField(required=False, help_text="Another of your queued jobs.")

    def validate(self, attrs):
        if attrs.get("before") is None and attrs["where"] == "before":
            raise serializers.ValidationError("Send where: front or back, or before: <job_id>.")
        return attrs


class MyQueueSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    jobs = JobSerializer(many=True)
    paused = serializers.IntegerField()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class BoostSerializer(serializers.Serializer):
    priority = serializers.IntegerField(min_value=-1000, max_value=1000)


def my_queue(request: Request, user_id: str) -> dict:
    jobs = Job.objects.filter(user_id=user_id, status__in=(*Job.ACTIVE, Job.Status.PAUSED))
    jobs = jobs.select_related("backend").order_by("status", "queue_key")[:200]
    bodies = [job_body(job, request) for job in jobs]
    paused = sum(job.status == Job.Status.PAUSED for job in jobs)
    return {"user_id": user_id, "jobs": bodies, "paused": paused}


class MyQueueView(APIView):
    @extend_schema(summary="A user's queued, running and paused jobs (position and ETA each)",
                   responses={200: MyQueueSerializer, **errors(READ)}, tags=TAGS)  # fmt: skip
    def get(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return Response(my_queue(request, user_id))


class MoveView(APIView):
    @extend_schema(summary="Move one of your queued jobs among your own queued jobs",
                   request=MoveSerializer, responses={200: MyQueueSerializer,
                   **errors(WRITE, 404, 409)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, job_id) -> Response:
        job = get_job(request, job_id)
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        before = None
        if body.validated_data.get("before"):
            before = get_job(request, body.validated_data["before"])
            if before.user_id != job.user_id:
                before = None  # refused as "not one of your queued jobs"
        where = "before" if body.validated_data.get("before") else body.validated_data["where"]
        ordering.move(job, where, before)
        return Response(my_queue(request, job.user_id))


class PauseView(APIView):
    @extend_schema(summary="Pause your queued jobs (they keep their place)", request=None,
                   responses={200: CountSerializer, **errors(READ)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return Response({"count": ordering.pause(user_id)})


class ResumeView(APIView):
    @extend_schema(summary="Resume your paused jobs", request=None,
                   responses={200: CountSerializer, **errors(READ)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        count = ordering.resume(user_id)
        if count:
            enqueue_dispatch()
        return Response({"count": count})


class CancelAllView(APIView):
    @extend_schema(summary="Cancel all your queued, paused and running jobs", request=None,
                   responses={200: CountSerializer, **errors(READ)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return Response({"count": ordering.cancel_all(user_id)})


class BoostView(APIView):
    @extend_schema(summary="Set a queued job's priority (a service key with the admin scope)",
                   request=BoostSerializer, responses={200: JobSerializer,
                   **errors(WRITE, 404, 409)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, job_id) -> Response:
        check_admin(request, "Boosting a job")
        job = get_job(request, job_id)
        body = BoostSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ordering.boost(job, body.validated_data["priority"], request.user.name)
        return Response(job_body(job, request))
