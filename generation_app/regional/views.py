"""POST /generate/regional and GET /regional/layouts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import READ, errors
from generation_app.api.generate import GenerateView
from generation_app.api.schema import EXTENSION_GENERATE_RESPONSES, IDEMPOTENCY
from generation_app.models import Job
from generation_app.regional import intake as regional_intake
from generation_app.regional import plan as regional
from generation_app.regional.serializers import (
    RegionalGenerationSerializer,
    RegionalLayoutSerializer,
)

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


class RegionalGenerateView(GenerateView):
    serializer_class = RegionalGenerationSerializer
    kind = Job.Kind.REGIONAL

    @extend_schema(
        request={"application/json": RegionalGenerationSerializer},
        responses=EXTENSION_GENERATE_RESPONSES,
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
        return regional_intake.with_preset_regional_config(data, request)

    def build(self, data, context):
        return regional_intake.regional(data, context)


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
