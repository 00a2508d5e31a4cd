"""Request and response shapes of the ControlNet and Regional Prompter endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.structured import parse_structured
from generation_app.api.serializers import (
    ImageInputField,
    Txt2ImgRequestSerializer,
    merge_init_image,
)
from generation_app.controlnet.units import numbered_images
from genparams.controlnet import ControlNetUnitSerializer


class NamedChoiceFieldSchema(OpenApiSerializerFieldExtension):
    """Documents ``genparams.controlnet.NamedChoiceField``: the extension's name, or its index."""

    target_class = "genparams.controlnet.NamedChoiceField"

    def map_serializer_field(self, auto_schema, direction):
        choices = self.target.choices
        return {
            "oneOf": [
                {"type": "string", "enum": choices},
                {"type": "integer", "minimum": 0, "maximum": len(choices) - 1},
            ]
        }


class ControlNetUnitInputSerializer(ControlNetUnitSerializer):
    """One unit in a generation request: the settings plus its own image (optional)."""

    image = ImageInputField(required=False, help_text="Base64; or upload `image_N` / `image`.")
    mask = ImageInputField(required=False, help_text="Base64 mask for this unit.")


@extend_schema_field(ControlNetUnitInputSerializer(many=True))
class ControlNetUnitsField(serializers.Field):
    """A list of unit objects; also one object, or a JSON string of either.

    Multipart bodies arrive already parsed by ``intake.request_data`` (including the
    ``str(dict)`` form fields Python ``requests`` sends for a list of dicts in ``data=``).
    """

    def to_internal_value(self, data: Any) -> list[dict]:
        data = parse_structured("controlnet_units", data)
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(u, dict) for u in data):
            raise serializers.ValidationError(
                "Expected a list of unit objects. With Python requests, send "
                "`files=` together with `data=` (or `json=`); a form without files flattens "
                "each unit to its key names."
            )
        return data

    def to_representation(self, value: list[dict]) -> list[dict]:
        return value


class ControlNetGenerationSerializer(Txt2ImgRequestSerializer):
    """txt2img with ControlNet units; img2img when ``init_images``/``init_image`` is given."""

    controlnet_units = ControlNetUnitsField(
        required=False,
        help_text="Units (see ControlNetUnitRequest). Left out: the session's "
        "controlnet_configs. A JSON string, or one form field per unit, is accepted too.",
    )
    image = ImageInputField(
        required=False,
        help_text="The control image for every unit without its own (multipart file or "
        "base64). Several files under `image` go one per unit; `image_0`, `image_1`… name "
        "a unit's image, `mask_0`… its mask.",
    )
    init_images = serializers.ListField(
        child=ImageInputField(), required=False, min_length=1, max_length=16
    )
    init_image = ImageInputField(required=False, help_text="Given: img2img instead of txt2img.")
    resize_mode = serializers.IntegerField(
        required=False, min_value=0, max_value=3, help_text="img2img resize mode (0..3)."
    )

    def to_internal_value(self, data):
        # Several files under `image` arrive as a list: keep them for one-per-unit.
        images = data.get("image") if hasattr(data, "get") else None
        if isinstance(images, list):
            data = {k: v for k, v in data.items() if k != "image"}
        attrs = super().to_internal_value(data)
        if isinstance(images, list):
            attrs["image"] = images
        return attrs

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        merge_init_image(attrs)
        attrs["unit_images"] = numbered_images(self.initial_data)
        return attrs


# --- responses and the other endpoints ------------------------------------------------
class ControlNetModelsSerializer(serializers.Serializer):
    models = serializers.ListField(
        child=serializers.CharField(), help_text="Names as listed, with hash."
    )
    unit_count = serializers.IntegerField(
        help_text="Units a request may have (control_net_unit_count)."
    )
    version = serializers.IntegerField(allow_null=True)
    backends = serializers.ListField(child=serializers.DictField())


class ModuleSliderSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField()
    min = serializers.FloatField()
    max = serializers.FloatField()
    step = serializers.FloatField()


class ControlNetModuleSerializer(serializers.Serializer):
    name = serializers.CharField()
    model_free = serializers.BooleanField(help_text="True: runs without a ControlNet model.")
    sliders = ModuleSliderSerializer(
        many=True, help_text="processor_res, threshold_a, threshold_b in that order, where shown."
    )


class ControlNetModulesSerializer(serializers.Serializer):
    modules = ControlNetModuleSerializer(many=True)
    module_list = serializers.ListField(child=serializers.CharField())


class PreprocessSerializer(serializers.Serializer):
    image = ImageInputField(required=False, help_text="Multipart file or base64.")
    images = serializers.ListField(
        child=ImageInputField(), required=False, min_length=1, max_length=8
    )
    mask = ImageInputField(required=False, help_text="For preprocessors that need a mask.")
    module = serializers.CharField(required=False, help_text='e.g. "canny", "openpose_full".')
    preprocessor = serializers.CharField(required=False, help_text="Alias of module.")
    processor_res = serializers.IntegerField(required=False, min_value=-1, max_value=4096)
    threshold_a = serializers.FloatField(required=False)
    threshold_b = serializers.FloatField(required=False)
    low_vram = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        module = attrs.pop("preprocessor", None)
        if module and attrs.get("module") and module != attrs["module"]:
            raise serializers.ValidationError({"preprocessor": ["An alias of module; send one."]})
        attrs["module"] = attrs.get("module") or module
        if not attrs["module"]:
            raise serializers.ValidationError(
                {"module": ["Name a preprocessor (GET /controlnet/modules)."]}
            )
        images = ([attrs.pop("image")] if attrs.get("image") else []) + attrs.get("images", [])
        if not images:
            raise serializers.ValidationError({"image": ["Upload an image or send base64."]})
        attrs["images"] = images
        if attrs.get("mask"):
            attrs["masks"] = [attrs.pop("mask")]
        return attrs


class PreprocessResponseSerializer(serializers.Serializer):
    module = serializers.CharField()
    images = serializers.ListField(child=serializers.CharField(), help_text="Base64 PNG maps.")
    poses = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="OpenPose JSON, openpose modules only.",
    )
    info = serializers.CharField()
    backend = serializers.CharField()
