"""ControlNet and Regional Prompter endpoints. Thin: validate, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backends.catalog import models_catalog
from core.openapi import GENERATE, READ, errors, upload_variant
from core.parsers import JSON_AND_FILES
from core.serializers import ErrorSerializer
from core.uploads import FileFields
from generation_app import controlnet, intake, regional
from generation_app.extension_serializers import (
    ControlNetGenerationSerializer,
    ControlNetModelsSerializer,
    ControlNetModulesSerializer,
    PreprocessResponseSerializer,
    PreprocessSerializer,
    RegionalGenerationSerializer,
    RegionalLayoutSerializer,
)
from generation_app.models import Job
from generation_app.serializers import JobSerializer
from generation_app.views import ERRORS, GenerateView

EXTENSION_ERRORS = {**ERRORS, 409: ErrorSerializer, 503: ErrorSerializer}
GENERATE_RESPONSES = {
    202: JobSerializer,
    200: JobSerializer,
    **errors(GENERATE, e409="No enabled backend has the extension."),
}
CATALOG_RESPONSES = errors(
    READ,
    409,
    503,
    e409="No backend has the ControlNet extension.",
    e503="No backend answered.",
)
IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="Retrying with the same key returns the first job (200), never a second.",
)  # fmt: skip

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
BRIEF_REGIONAL = OpenApiExample(
    "The README's regional example",
    value={
        "user_id": "user123",
        "prompt": "masterpiece, high quality",
        "regional_config": {
            "layout": "three_columns",
            "common_prompt": "fantasy tavern scene",
            "region1_prompt": "knight in armor drinking",
            "region2_prompt": "fireplace with warm lighting",
            "region3_prompt": "bard playing lute",
        },
        "width": 768,
        "height": 512,
        "steps": 25,
    },
    request_only=True,
)
CUSTOM_REGIONAL = OpenApiExample(
    "Custom 2-D ratios with a regions list and per-region negatives",
    value={
        "user_id": "user123",
        "prompt": "city street at night",
        "negative_prompt": "blurry",
        "regional_config": {
            "layout": "custom",
            "ratios": "1,1,1;1,1,1,1",
            "direction": "columns",
            "base_prompt": "neon lights",
            "base_ratio": 0.3,
            "regions": [
                "sky with moon", "skyscraper",
                {"prompt": "noodle stall", "negative_prompt": "people"}, "taxi", "cat",
            ],
        },
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
        responses=GENERATE_RESPONSES,
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

    def build(self, data, request, context):
        return intake.controlnet(data, request, context)


class RegionalGenerateView(GenerateView):
    serializer_class = RegionalGenerationSerializer
    kind = Job.Kind.REGIONAL

    @extend_schema(
        request={"application/json": RegionalGenerationSerializer},
        responses=GENERATE_RESPONSES,
        parameters=[IDEMPOTENCY],
        examples=[BRIEF_REGIONAL, CUSTOM_REGIONAL],
        summary="Generate with a different prompt per region (Regional Prompter)",
        description=(
            "The hub writes the prompt with the extension's separators (ADDCOMM, ADDBASE, "
            "BREAK, ADDCOL/ADDROW) and its 20 script args, always active. The request's "
            "`prompt` is kept, written before `common_prompt`; `negative_prompt` applies to "
            "every region. A region count that does not match the layout is a 400 here "
            "(A1111 would fail with a 500 IndexError). 409 when no backend has the extension."
        ),
        tags=["regional"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def prepare(self, data: dict, request: Request) -> dict:
        return intake.with_preset_regional_config(data, request)

    def build(self, data, request, context):
        return intake.regional(data, request, context)


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


class RegionalLayoutsView(APIView):
    @extend_schema(
        responses={200: RegionalLayoutSerializer(many=True), **errors(READ)},
        summary="Regional Prompter layouts, with a description and a small diagram",
        description="The `layout` names `regional_config` takes, each with its region "
        "count, what it looks like, and a small text diagram.",
        tags=["regional"],
    )
    def get(self, request: Request) -> Response:
        return Response(regional.layouts_table())
