"""ControlNet and Regional Prompter endpoints. Thin: validate, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backends.catalog import models_catalog
from core.openapi import READ, errors, upload_variant
from core.parsers import JSON_AND_FILES
from core.uploads import FileFields
from generation_app.admission import intake
from generation_app.api.generate import GenerateView
from generation_app.api.schema import CATALOG_RESPONSES, EXTENSION_GENERATE_RESPONSES, IDEMPOTENCY
from generation_app.controlnet import intake as controlnet_intake
from generation_app.controlnet import units as controlnet
from generation_app.controlnet.serializers import (
    ControlNetGenerationSerializer,
    ControlNetModelsSerializer,
    ControlNetModulesSerializer,
    PreprocessResponseSerializer,
    PreprocessSerializer,
)
from generation_app.models import Job

BRIEF_CONTROLNET = OpenApiExample(
    "The README's ControlNet example (multipart: the file as `image`)",
    value={
        "user_id": "user123",
        "prompt": "detailed portrait, studio lighting",
        "controlnet_units": [
            {
                "enabled": True,
                "model": "control_openpose-fp16",
                "weight": 1.0,
                "preprocessor": "openpose_full",
            }
        ],
        "image": "<pose_reference.jpg>",
    },
    request_only=True,
    media_type="multipart/form-data",
)


TWO_UNITS = OpenApiExample(
    "Two units, two images (JSON, base64)",
    value={
        "user_id": "user123",
        "prompt": "a dancer on a stage",
        "controlnet_units": [
            {"module": "openpose_full", "model": "control_v11p_sd15_openpose", "image": "<base64>"},
            {"module": "canny", "model": "control_v11p_sd15_canny", "weight": 0.6,
             "resize_mode": 0, "control_mode": 2, "image": "<base64>"},
        ],
    },
    request_only=True,
)  # fmt: skip


class ControlNetGenerateView(GenerateView):
    serializer_class = ControlNetGenerationSerializer
    kind = Job.Kind.CONTROLNET
    file_fields = FileFields({"image", "init_image", "init_images"}, [r"image_\d+", r"mask_\d+"])
    parser_classes = JSON_AND_FILES

    @extend_schema(
        request={
            "application/json": ControlNetGenerationSerializer,
            "multipart/form-data": upload_variant(
                ControlNetGenerationSerializer,
                {
                    "image": "The reference picture of every unit without one (or `image_0`, "
                    "`image_1`… per unit, `mask_0`… their masks).",
                    "init_image": "Given: img2img instead of txt2img.",
                },
            ),
        },
        responses=EXTENSION_GENERATE_RESPONSES,
        parameters=[IDEMPOTENCY],
        examples=[BRIEF_CONTROLNET, TWO_UNITS],
        summary="Generate with ControlNet units (txt2img, or img2img with an init image)",
        description=(
            "Units are checked against the backend before queueing: module and model names "
            "(400 listing the valid ones), weight 0..2, resize_mode/control_mode as names or "
            "their indexes, at most control_net_unit_count units. The session's "
            "controlnet_configs (or the preset's units) fill what a unit leaves out. Detected "
            "maps come back in the result's `extras` (role control_map). 409 when no backend "
            "has the extension."
        ),
        tags=["controlnet"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, context):
        return controlnet_intake.controlnet(data, context)


class ControlNetModelsView(APIView):
    @extend_schema(
        responses={200: ControlNetModelsSerializer, **CATALOG_RESPONSES},
        summary="ControlNet models the backends have",
        description="The ControlNet model names (as units take them in `model`) the "
        "enabled backends have, with the extension's version. 409 when no backend has the "
        "ControlNet extension.",
        tags=["controlnet"],
    )
    def get(self, request: Request) -> Response:
        catalog = models_catalog()
        extension = controlnet.require_controlnet(catalog)
        return Response(
            {
                "models": extension["models"],
                "unit_count": extension["unit_count"],
                "version": extension.get("version"),
                "backends": [
                    {"url": b["url"], "controlnet": b["controlnet"]} for b in catalog["backends"]
                ],
            }
        )


class ControlNetModulesView(APIView):
    @extend_schema(
        responses={200: ControlNetModulesSerializer, **CATALOG_RESPONSES},
        summary="ControlNet preprocessors (modules) with their parameters",
        description="Every preprocessor (`module` of a unit) with its sliders: names, "
        "ranges and defaults of `processor_res`, `threshold_a`, `threshold_b`.",
        tags=["controlnet"],
    )
    def get(self, request: Request) -> Response:
        extension = controlnet.require_controlnet(models_catalog())
        return Response(
            {"modules": controlnet.modules_table(extension), "module_list": extension["modules"]}
        )


class ControlNetPreprocessView(APIView):
    parser_classes = JSON_AND_FILES

    @extend_schema(
        request={
            "application/json": PreprocessSerializer,
            "multipart/form-data": upload_variant(
                PreprocessSerializer,
                {"image": "The picture.", "images": "Several pictures.", "mask": "A mask."},
                many=("images",),
            ),
        },
        responses={
            200: PreprocessResponseSerializer,
            **errors(READ, 400, 409, 413, 415, 502, 503, e409="No backend has ControlNet."),
        },
        examples=[
            OpenApiExample(
                "Edges of an uploaded picture",
                value={"module": "canny", "image": "<base64 or file>", "threshold_a": 100},
                request_only=True,
            )
        ],
        summary="Run a preprocessor now and get the detected map(s)",
        description="Synchronous, with a bounded timeout. Openpose modules add `poses`.",
        tags=["controlnet"],
    )
    def post(self, request: Request) -> Response:
        files = FileFields({"image", "images", "mask"})
        serializer = PreprocessSerializer(data=intake.request_data(request, files))
        serializer.is_valid(raise_exception=True)
        catalog = models_catalog()
        extension = controlnet.require_controlnet(catalog)
        data = dict(serializer.validated_data)
        data["module"] = controlnet.check_module(data["module"], extension)
        return Response(controlnet.preprocess(data, catalog))
