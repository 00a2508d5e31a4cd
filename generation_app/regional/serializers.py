"""The Regional Prompter request: regions as a list or as region<N>_prompt fields, layouts
by name or by ratios."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generation_app.api.serializers import (
    Txt2ImgRequestSerializer,
)
from generation_app.regional import plan as regional


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


class RegionalLayoutSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    direction = serializers.CharField(allow_null=True)
    ratios = serializers.CharField(allow_null=True)
    regions = serializers.IntegerField(allow_null=True)
    diagram = serializers.CharField(allow_null=True, help_text="A small PNG as a data: URI.")
