"""Sweeps over HTTP: POST /generate/sweep, GET /sweeps/{id}, its sheet, cancel."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_user_access
from core.errors import NotFound
from core.serializers import ErrorSerializer
from generation_app.admission import intake
from generation_app.admission.rooms import RoomFields, room_fields
from generation_app.admission.service import SWEEP, submit
from generation_app.api.generate import admitted_response
from generation_app.api.schema import IDEMPOTENCY_KEY, answered_or_dry_run
from generation_app.api.serializers import Img2ImgRequestSerializer, Txt2ImgRequestSerializer
from generation_app.models import Job, JobGroup
from generation_app.sweeps import axes as sweep_axes
from generation_app.sweeps import service as sweep_service
from generation_app.sweeps import sheet as sweep_sheet

BASE_SERIALIZERS = {"txt2img": Txt2ImgRequestSerializer, "img2img": Img2ImgRequestSerializer}
ERRORS = {code: ErrorSerializer for code in (400, 401, 403, 404, 429)}


class AxisSerializer(serializers.Serializer):
    field = serializers.CharField(
        help_text="seed, sampler_name, scheduler, checkpoint, cfg_scale, steps, "
        "denoising_strength, lora:<filename> (its weight) or prompt_sr (the first value is "
        "searched in the prompt, each value replaces it)."
    )
    values = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=64)


class SweepRequestSerializer(RoomFields, serializers.Serializer):
    user_id = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=list(BASE_SERIALIZERS), default="txt2img")
    base = serializers.DictField(help_text="The request every cell starts from (as its kind).")
    axes = AxisSerializer(many=True, help_text="1 to 3 axes; x first, then y, then z.")


class SweepCellSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    values = serializers.DictField(help_text="This cell's value on each axis.")
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.FloatField()


class SweepSerializer(serializers.Serializer):
    sweep_id = serializers.UUIDField()
    user_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["queued", "running", "completed", "partial", "failed", "cancelled"]
    )
    progress = serializers.FloatField(help_text="0..1 over every cell")
    counts = serializers.DictField(child=serializers.IntegerField())
    axes = AxisSerializer(many=True)
    cells = SweepCellSerializer(many=True)
    sheet_url = serializers.CharField(
        allow_null=True, help_text="The labelled contact sheet, once every cell has ended."
    )
    links = serializers.DictField(child=serializers.CharField())


def sweep_body(state: sweep_service.SweepStatus, request: Request) -> dict:
    group = state.group
    base = request.build_absolute_uri(reverse("sweep-detail", args=[group.pk]))
    sheet = sweep_sheet.contact_sheet(state)
    return {
        "sweep_id": str(group.pk),
        "user_id": group.user_id,
        "status": state.status,
        "progress": state.progress,
        "counts": state.counts,
        "axes": group.axes,
        "cells": [
            {"job_id": str(j.pk), "values": j.cell, "status": j.status, "progress": j.progress}
            for j in state.jobs
        ],
        "sheet_url": f"{base}/sheet" if sheet else None,
        "links": {"self": base, "cancel": f"{base}/cancel", "sheet": f"{base}/sheet"},
    }


def get_group(request: Request, sweep_id) -> JobGroup:
    group = JobGroup.objects.filter(pk=sweep_id).first()
    if group is None:
        raise NotFound(f"No sweep {sweep_id}.", code="sweep_not_found")
    check_user_access(request, group.user_id)
    return group


class SweepCreateView(APIView):
    @extend_schema(
        request={"application/json": SweepRequestSerializer},
        responses={
            202: SweepSerializer,
            200: answered_or_dry_run(SweepSerializer, "SweepOrDryRun"),
            422: ErrorSerializer,
            **ERRORS,
        },
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Three seeds by two samplers",
                value={
                    "user_id": "user123",
                    "base": {"prompt": "a lighthouse at dusk", "steps": 20},
                    "axes": [
                        {"field": "seed", "values": [1, 2, 3]},
                        {"field": "sampler_name", "values": ["Euler a", "DPM++ 2M"]},
                    ],
                },
                request_only=True,
            )
        ],
        tags=["generation"],
        summary="Sweep: one job per combination of up to three axes, on every free backend",
        description="Each cell is a job of its own, spread over every free backend (A1111's "
        "X/Y/Z plot runs them one by one on one GPU). The sweep counts as one request: its "
        "cells are left out of the active-job limit, and a user runs "
        "HUB_MAX_ACTIVE_GROUPS_PER_USER sweeps at once, of at most HUB_MAX_SWEEP_CELLS cells. "
        "When every cell has ended, `sheet_url` is a labelled contact sheet (axis values as "
        "row and column headers) sized for a Discord attachment.",
    )
    def post(self, request: Request) -> Response:
        received = intake.request_data(request)
        body = SweepRequestSerializer(data=received)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        base = BASE_SERIALIZERS[data["kind"]](data={**data["base"], "user_id": data["user_id"]})
        if not base.is_valid():
            raise serializers.ValidationError({"base": base.errors})
        fields = base.validated_data
        axes = sweep_axes.check_axes(data["axes"], fields)
        build = intake.img2img if data["kind"] == "img2img" else intake.txt2img

        def plan(context):
            job_request = build(fields, context)
            recorded = {**job_request.received, "axes": data["axes"]}
            return sweep_service.plan_sweep(job_request, axes, recorded)

        submission = intake.submission(
            request,
            {**fields, **room_fields(data)},
            received,
            SWEEP,
            img2img=data["kind"] == "img2img",
        )
        admitted = submit(submission, plan)
        if admitted.dry_run is not None:
            return Response(admitted.dry_run)
        state = sweep_service.sweep_status(admitted.group)
        return admitted_response(sweep_body(state, request), admitted.created)


class SweepDetailView(APIView):
    @extend_schema(
        responses={200: SweepSerializer, **ERRORS}, tags=["generation"], summary="Sweep status"
    )
    def get(self, request: Request, sweep_id) -> Response:
        return Response(
            sweep_body(sweep_service.sweep_status(get_group(request, sweep_id)), request)
        )


class SweepCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: SweepSerializer, **ERRORS},
        tags=["generation"],
        summary="Cancel a sweep's cells that have not ended",
    )
    def post(self, request: Request, sweep_id) -> Response:
        group = get_group(request, sweep_id)
        sweep_service.cancel_sweep(group)
        return Response(sweep_body(sweep_service.sweep_status(group), request))


class SweepSheetView(APIView):
    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(description="The contact sheet"), **ERRORS},
        tags=["generation"],
        summary="A sweep's contact sheet (PNG)",
    )
    def get(self, request: Request, sweep_id) -> FileResponse:
        state = sweep_service.sweep_status(get_group(request, sweep_id))
        name = sweep_sheet.contact_sheet(state)
        if name is None:
            raise NotFound(
                f"The sheet of sweep {sweep_id} is made when every cell has ended (it is "
                f"{state.status}).",
                code="sheet_not_ready",
            )
        return FileResponse(default_storage.open(name, "rb"), content_type="image/png")
