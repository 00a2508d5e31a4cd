"""Preset endpoints: a user's own presets, sharing, copying and loading into the session."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_user_access
from core.query import read_query
from core.serializers import ErrorSerializer
from presets_app import services
from presets_app.infotext import preset_content
from presets_app.serializers import (
    ApplyResultSerializer,
    BrowseQuerySerializer,
    CopySerializer,
    PresetCreateSerializer,
    PresetListSerializer,
    PresetPageSerializer,
    PresetSerializer,
    PresetUpdateSerializer,
    ShareCodeQuerySerializer,
    ShareCodeSerializer,
)

TAGS = ["presets"]
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer}
CREATE_EXAMPLE = OpenApiExample(
    "A workflow",
    value={
        "name": "anime portrait",
        "description": "Soft light, one character LoRA.",
        "params": {"sampler_name": "DPM++ 2M Karras", "steps": 20, "width": 512, "height": 768},
        "loras": {"character_lora.safetensors": 0.8},
        "controlnet_units": [
            {"model": "control_openpose-fp16", "weight": 1.0, "preprocessor": "openpose_full"}
        ],
        "visibility": "private",
    },
    request_only=True,
)
INFOTEXT_EXAMPLE = OpenApiExample(
    "From a picture's parameters",
    value={
        "name": "lighthouse",
        "infotext": "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, "
        "Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512",
    },
    request_only=True,
)
SNAPSHOT_EXAMPLE = OpenApiExample(
    "Snapshot the session",
    value={"name": "my current setup", "from_session": True},
    request_only=True,
)


def _preset(preset, viewer: str, status: int = 200) -> Response:
    return Response(PresetSerializer(preset, context={"viewer": viewer}).data, status=status)


class PresetListView(APIView):
    @extend_schema(
        summary="A user's presets",
        operation_id="presets_list",
        responses={200: PresetListSerializer, 403: ErrorSerializer},
        tags=TAGS,
    )
    def get(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        presets = services.user_presets(user_id)
        body = {"user_id": user_id, "count": len(presets), "presets": presets}
        return Response(PresetListSerializer(body, context={"viewer": user_id}).data)

    @extend_schema(
        summary="Save a preset",
        operation_id="preset_create",
        description=(
            "`params` are checked like a generation request (names against the backends), "
            "LoRAs against the catalog, ControlNet units like the extension. `from_session: true` "
            "snapshots the user's session; fields sent explicitly win over it. `infotext` (A1111's "
            "generation parameters, as in a PNG) fills params, loras and controlnet_units the "
            "way POST /png-info reads them, with its warnings. A duplicate name "
            "is a 409 unless `overwrite: true` (then 200, same id)."
        ),
        request=PresetCreateSerializer,
        responses={201: PresetSerializer, 200: PresetSerializer, 409: ErrorSerializer, **ERRORS},
        examples=[CREATE_EXAMPLE, SNAPSHOT_EXAMPLE, INFOTEXT_EXAMPLE],
        tags=TAGS,
    )
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        body = PresetCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data, warnings = dict(body.validated_data), []
        if data.get("infotext"):
            content, warnings = preset_content(data.pop("infotext"))
            data = {**content, **data}
        data.pop("infotext", None)
        preset, created = services.save_preset(user_id, **data)
        preset.warnings = [*warnings, *getattr(preset, "warnings", [])]
        return _preset(preset, user_id, status=201 if created else 200)


class PresetDetailView(APIView):
    @extend_schema(
        summary="One preset",
        operation_id="preset_get",
        description="The user's own, a public one, or a code-shared one with `?share_code=`.",
        parameters=[ShareCodeQuerySerializer],
        responses={
            200: PresetSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=TAGS,
    )
    def get(self, request: Request, user_id: str, preset_id: int) -> Response:
        check_user_access(request, user_id)
        query = read_query(request, ShareCodeQuerySerializer)
        preset = services.visible_preset(user_id, preset_id, **query)
        return _preset(preset, user_id)

    @extend_schema(
        summary="Change one's own preset",
        operation_id="preset_update",
        description="Each field sent replaces the stored one (`params` as a whole).",
        request=PresetUpdateSerializer,
        responses={200: PresetSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ERRORS},
        examples=[
            OpenApiExample("Share it", value={"visibility": "public"}, request_only=True),
            OpenApiExample("Share by code", value={"visibility": "code"}, request_only=True),
        ],
        tags=TAGS,
    )
    def patch(self, request: Request, user_id: str, preset_id: int) -> Response:
        check_user_access(request, user_id)
        body = PresetUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _preset(services.update_preset(user_id, preset_id, **body.validated_data), user_id)

    @extend_schema(
        summary="Delete one's own preset",
        operation_id="preset_delete",
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer},
        tags=TAGS,
    )
    def delete(self, request: Request, user_id: str, preset_id: int) -> Response:
        check_user_access(request, user_id)
        services.delete_preset(user_id, preset_id)
        return Response(status=204)


class PresetApplyView(APIView):
    @extend_schema(
        summary="Load a preset into the user's session",
        operation_id="preset_apply",
        description=(
            "Its LoRAs and ControlNet units replace the session's; its params are merged into "
            "the session's custom settings. LoRAs no longer usable are skipped, with a warning."
        ),
        request=ShareCodeSerializer,
        responses={200: ApplyResultSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        tags=TAGS,
    )
    def post(self, request: Request, user_id: str, preset_id: int) -> Response:
        check_user_access(request, user_id)
        body = ShareCodeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.apply_preset(user_id, preset_id, **body.validated_data)
        return Response(ApplyResultSerializer(result).data)


class PresetCopyView(APIView):
    @extend_schema(
        summary="Copy a public or code-shared preset into the user's presets",
        operation_id="preset_copy",
        description="The copy is private. The original's usage count goes up.",
        request=CopySerializer,
        responses={201: PresetSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ERRORS},
        examples=[
            OpenApiExample("A public preset", value={"preset_id": 42}, request_only=True),
            OpenApiExample(
                "By share code", value={"share_code": "k3J9xQe1ZpWa"}, request_only=True
            ),
        ],
        tags=TAGS,
    )
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        body = CopySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _preset(services.copy_preset(user_id, **body.validated_data), user_id, status=201)


class PresetBrowseView(APIView):
    @extend_schema(
        summary="Browse public presets, or find one by share code",
        operation_id="presets_browse",
        parameters=[BrowseQuerySerializer],
        responses={200: PresetPageSerializer, 400: ErrorSerializer},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        page = services.browse_presets(**read_query(request, BrowseQuerySerializer))
        return Response(PresetPageSerializer(page).data)
