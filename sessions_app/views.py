"""The README's session endpoints. A user key may only touch its own user's session."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_user_access
from core.serializers import ErrorSerializer
from sessions_app import services
from sessions_app.serializers import (
    AddLoraSerializer,
    ControlNetConfigsSerializer,
    SessionSerializer,
    SettingsPatchSerializer,
)

TAGS = ["sessions"]
SESSION_EXAMPLE = OpenApiExample(
    "A session",
    value={
        "user_id": "user123",
        "active_loras": {"character_lora.safetensors": 0.8, "style_lora.safetensors": 0.6},
        "controlnet_configs": [
            {
                "model": "control_openpose-fp16",
                "weight": 1.0,
                "preprocessor": "openpose_full",
                "module": "openpose_full",
            }
        ],
        "custom_settings": {"preferred_sampler": "DPM++ 2M Karras", "default_steps": 20},
        "last_updated": "2025-01-04T12:00:00Z",
    },
    response_only=True,
)
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer}


def _render(state: dict) -> Response:
    return Response(SessionSerializer(state).data)


class SessionView(APIView):
    @extend_schema(
        summary="Get a user's session",
        operation_id="session_get",
        description="A user with no session gets an empty one, never a 404.",
        responses={200: SessionSerializer, 403: ErrorSerializer},
        examples=[SESSION_EXAMPLE],
        tags=TAGS,
    )
    def get(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return _render(services.session_state(user_id))

    @extend_schema(
        summary="Reset a user's session",
        operation_id="session_reset",
        description="Forgets the LoRAs, ControlNet configs and settings.",
        responses={204: None, 403: ErrorSerializer},
        tags=TAGS,
    )
    def delete(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        services.reset_session(user_id)
        return Response(status=204)


class SessionLorasView(APIView):
    @extend_schema(
        summary="Add a LoRA to the session, or change its weight",
        operation_id="session_lora_add",
        description=(
            "The filename must be in the LoRA catalog and enabled (else 404 with `suggestions`). "
            "A session holds at most HUB_MAX_ACTIVE_LORAS LoRAs (409 beyond)."
        ),
        request=AddLoraSerializer,
        responses={200: SessionSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "The README's call",
                value={"filename": "character_lora.safetensors", "weight": 0.8},
                request_only=True,
            ),
            SESSION_EXAMPLE,
        ],
        tags=TAGS,
    )
    def post(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        body = AddLoraSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _render(services.add_lora(user_id, **body.validated_data))

    @extend_schema(
        summary="Remove all LoRAs from the session",
        operation_id="session_loras_clear",
        responses={200: SessionSerializer, 403: ErrorSerializer},
        tags=TAGS,
    )
    def delete(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return _render(services.clear_loras(user_id))


class SessionLoraView(APIView):
    @extend_schema(
        summary="Remove one LoRA from the session",
        operation_id="session_lora_remove",
        responses={200: SessionSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        tags=TAGS,
    )
    def delete(self, request: Request, user_id: str, filename: str) -> Response:
        check_user_access(request, user_id)
        return _render(services.remove_lora(user_id, filename))


class SessionControlNetView(APIView):
    @extend_schema(
        summary="Set (replace) the session's ControlNet unit configs",
        operation_id="session_controlnet_set",
        description=(
            "Each unit is checked as the ControlNet extension would: model and module names "
            "against the backends' lists, weight 0..2, resize_mode/control_mode as names or "
            "their integer index. `preprocessor` is kept and copied to `module`. A bare list "
            "body is accepted too. 409 when no backend has the ControlNet extension."
        ),
        request=ControlNetConfigsSerializer,
        responses={200: SessionSerializer, 409: ErrorSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "One OpenPose unit",
                value={
                    "controlnet_configs": [
                        {
                            "model": "control_openpose-fp16",
                            "weight": 1.0,
                            "preprocessor": "openpose_full",
                        }
                    ]
                },
                request_only=True,
            )
        ],
        tags=TAGS,
    )
    def put(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        data = (
            request.data if isinstance(request.data, dict) else {"controlnet_configs": request.data}
        )
        body = ControlNetConfigsSerializer(data=data)
        body.is_valid(raise_exception=True)
        return _render(services.set_controlnet(user_id, body.validated_data["controlnet_configs"]))

    @extend_schema(
        summary="Clear the session's ControlNet unit configs",
        operation_id="session_controlnet_clear",
        responses={200: SessionSerializer, 403: ErrorSerializer},
        tags=TAGS,
    )
    def delete(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return _render(services.set_controlnet(user_id, []))


class SessionSettingsView(APIView):
    @extend_schema(
        summary="Change the session's custom settings (generation defaults)",
        operation_id="session_settings_update",
        description=(
            "Keys are generation request fields (`sampler_name`, `steps`, `cfg_scale`, `width`, "
            "`checkpoint`, `vae`, `negative_prompt`...) or the README's names (`preferred_sampler`, "
            "`default_steps`, `default_cfg`, `preferred_checkpoint`, `default_width`...). Values "
            "are checked like a generation request, names against the backends. A null value "
            'removes the setting. The body may also be wrapped as `{"custom_settings": {...}}`.'
        ),
        request=SettingsPatchSerializer,
        responses={200: SessionSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "The README's settings",
                value={"preferred_sampler": "DPM++ 2M Karras", "default_steps": 20},
                request_only=True,
            ),
            OpenApiExample("Remove one", value={"default_steps": None}, request_only=True),
        ],
        tags=TAGS,
    )
    def patch(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        return _render(services.update_settings(user_id, _settings_body(request.data)))


def _settings_body(data) -> dict:
    """The settings object, also accepted wrapped as {"custom_settings": {...}}."""
    if hasattr(data, "dict"):  # a form body (QueryDict): one value per key
        data = data.dict()
    if isinstance(data, dict) and set(data) == {"custom_settings"}:
        data = data["custom_settings"]
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Expected an object of settings."]})
    return dict(data)
