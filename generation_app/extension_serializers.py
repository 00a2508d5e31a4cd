"""Request and response shapes of the ControlNet and Regional Prompter endpoints."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generation_app import regional
from generation_app.controlnet import numbered_images
from generation_app.serializers import (
    ImageInputField,
    Txt2ImgRequestSerializer,
    merge_init_image,
)
from generation_app.structured import parse_structured
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


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "The region's prompt."},
            {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string"},
                    "negative_prompt": {"type": "string"},
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
        ]
    }
)
class RegionInputField(serializers.Field):
    """A region: its prompt, or ``{"prompt": ..., "negative_prompt": ...}``."""

    def to_internal_value(self, data: Any) -> regional.Region:
        if isinstance(data, str):
            return regional.Region(prompt=data)
        if isinstance(data, dict) and isinstance(data.get("prompt"), str):
            negative = data.get("negative_prompt") or ""
            if not isinstance(negative, str) or set(data) - {"prompt", "negative_prompt"}:
                raise serializers.ValidationError("Only `prompt` and `negative_prompt` (text).")
            return regional.Region(prompt=data["prompt"], negative_prompt=negative)
        raise serializers.ValidationError('A region is a prompt or {"prompt", "negative_prompt"}.')

    def to_representation(self, value: regional.Region) -> dict[str, str]:
        return {"prompt": value.prompt, "negative_prompt": value.negative_prompt}


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "string",
                "example": "1,2,1;1,1",
                "description": '"," and ";" as the extension writes them.',
            },
            {"type": "array", "items": {"type": "number"}, "example": [2, 1]},
            {
                "type": "array",
                "items": {"type": "array", "items": {"type": "number"}},
                "example": [[1, 2, 1], [1, 1]],
            },
        ]
    }
)
class RatiosField(serializers.Field):
    def to_internal_value(self, data: Any) -> str:
        try:
            return regional.ratio_string(data)
        except regional.RegionalError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: str) -> str:
        return value


REGION_KEY = re.compile(r"^region(\d+)_(prompt|negative_prompt)$")


class RegionalConfigSerializer(serializers.Serializer):
    """The README's ``regional_config``: a layout and one prompt per region.

    Regions come as ``region1_prompt``… (``region1_negative_prompt``… optional) or as a
    ``regions`` list, in reading order: left to right, top to bottom.
    """

    layout = serializers.ChoiceField(
        [*regional.LAYOUTS, regional.CUSTOM],
        required=False,
        help_text="See GET /regional/layouts.",
        error_messages={
            "invalid_choice": "Unknown layout {input!r}. Valid: "
            + ", ".join([*regional.LAYOUTS, regional.CUSTOM])
            + "."
        },
    )
    ratios = RatiosField(
        required=False, help_text='Custom split, e.g. "2,1", [2, 1], "1,1,1;1,1,1".'
    )
    direction = serializers.ChoiceField(
        ["columns", "rows"],
        required=False,
        help_text="For custom ratios: split along columns or rows first.",
    )
    common_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    base_prompt = serializers.CharField(
        required=False, allow_blank=True, help_text="Blended into every region by base_ratio."
    )
    base_ratio = serializers.JSONField(
        required=False, help_text="0..1, one value or one per region (default 0.2)."
    )
    calc_mode = serializers.ChoiceField(list(regional.CALC_MODES), required=False)
    regions = serializers.ListField(child=RegionInputField(), required=False, min_length=1)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object.")
        numbered = {k: v for k, v in data.items() if REGION_KEY.match(k)}
        unknown = [k for k in data if k not in self.fields and k not in numbered]
        if unknown:
            raise serializers.ValidationError(
                {k: ["Unknown field. Use region1_prompt… or regions."] for k in unknown}
            )
        attrs = super().to_internal_value({k: v for k, v in data.items() if k not in numbered})
        if numbered:
            if "regions" in attrs:
                raise serializers.ValidationError(
                    {"regions": ["Give regions as a list or as regionN_prompt, not both."]}
                )
            attrs["regions"] = self._numbered_regions(numbered)
        if "layout" not in attrs and "ratios" not in attrs:
            raise serializers.ValidationError({"layout": ["Give a layout, or custom ratios."]})
        if not attrs.get("regions"):
            raise serializers.ValidationError({"regions": ["Give region1_prompt… or regions."]})
        return attrs

    @staticmethod
    def _numbered_regions(numbered: dict[str, Any]) -> list[regional.Region]:
        prompts: dict[int, str] = {}
        negatives: dict[int, str] = {}
        for key, value in numbered.items():
            n, kind = REGION_KEY.match(key).groups()
            if not isinstance(value, str):
                raise serializers.ValidationError({key: ["Must be text."]})
            (prompts if kind == "prompt" else negatives)[int(n)] = value
        count = max(prompts, default=0)
        missing = [f"region{n}_prompt" for n in range(1, count + 1) if n not in prompts]
        stray = [f"region{n}_negative_prompt" for n in negatives if n not in prompts]
        if missing or stray or 0 in prompts:
            raise serializers.ValidationError(
                {
                    "regions": [
                        f"Regions are numbered from 1 without gaps; missing: {', '.join(missing + stray) or 'region0 is not valid'}."
                    ]
                }
            )
        return [regional.Region(prompts[n], negatives.get(n, "")) for n in range(1, count + 1)]


class RegionalGenerationSerializer(Txt2ImgRequestSerializer):
    regional_config = RegionalConfigSerializer()


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


class RegionalLayoutSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    direction = serializers.CharField(allow_null=True)
    ratios = serializers.CharField(allow_null=True)
    regions = serializers.IntegerField(allow_null=True)
    diagram = serializers.CharField(allow_null=True, help_text="A small PNG as a data: URI.")
