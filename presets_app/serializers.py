"""Request and response shapes of the preset endpoints."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.query import QueryBooleanField, QueryCharField, QueryIntegerField
from core.serializers import OptionalBooleanField
from presets_app.models import Preset
from sessions_app.serializers import SessionSerializer


class PresetSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner_id", help_text="The user id that owns it.")
    share_code = serializers.SerializerMethodField(
        help_text="Shown to the owner only, while visibility is `code`; else null."
    )
    params = serializers.DictField(
        read_only=True,
        help_text="Generation request fields (as POST /generate/* takes them: prompt, steps, "
        "sampler_name…), checked like a request when saved.",
    )
    loras = serializers.DictField(
        child=serializers.FloatField(), read_only=True, help_text="LoRA filename -> weight."
    )
    controlnet_units = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="ControlNet units as a unit of POST /generate/controlnet takes them "
        "(module, model, weight…).",
    )
    regional_config = serializers.DictField(
        read_only=True,
        help_text="The `regional_config` of POST /generate/regional (layout, region prompts); "
        "empty when the preset has none.",
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        default=list,
        help_text="LoRAs it names that cannot be used now (they are skipped).",
    )

    class Meta:
        model = Preset
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "params",
            "loras",
            "controlnet_units",
            "regional_config",
            "visibility",
            "share_code",
            "usage_count",
            "copied_from",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_share_code(self, preset: Preset) -> str | None:
        return preset.share_code if self.context.get("viewer") == preset.owner_id else None


class PresetContentSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    params = serializers.DictField(
        required=False, help_text="Any generation request fields; checked like a request."
    )
    loras = serializers.DictField(
        child=serializers.FloatField(
            min_value=settings.LORA_WEIGHT_MIN, max_value=settings.LORA_WEIGHT_MAX
        ),
        required=False,
        help_text="LoRA filename -> weight.",
    )
    controlnet_units = serializers.ListField(child=serializers.DictField(), required=False)
    regional_config = serializers.DictField(required=False)
    visibility = serializers.ChoiceField(Preset.Visibility.choices, required=False)


class PresetCreateSerializer(PresetContentSerializer):
    name = serializers.CharField(max_length=100)
    from_session = OptionalBooleanField(
        required=False, default=False, help_text="Snapshot the user's session into the preset."
    )
    overwrite = OptionalBooleanField(
        required=False, default=False, help_text="Replace the user's preset of the same name."
    )
    infotext = serializers.CharField(
        required=False,
        max_length=65536,
        trim_whitespace=False,
        help_text="A1111 generation parameters (a PNG's, see POST /png-info) to make the "
        "preset from; params, loras and controlnet_units sent explicitly win over it.",
    )


class PresetUpdateSerializer(PresetContentSerializer):
    name = serializers.CharField(required=False, max_length=100)


class PresetListSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    count = serializers.IntegerField()
    presets = PresetSerializer(many=True)


class BrowseQuerySerializer(serializers.Serializer):
    public = QueryBooleanField(required=False, default=True, help_text="Only true is allowed.")
    search = QueryCharField(required=False, default="", allow_blank=True, max_length=100)
    share_code = QueryCharField(
        required=False, max_length=100, help_text="Find a code-shared preset."
    )
    limit = QueryIntegerField(required=False, default=20, min_value=1, max_value=100)
    offset = QueryIntegerField(required=False, default=0, min_value=0, max_value=100_000)

    def validate_public(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(
                "Only public presets are browsed here; a user's own are at GET /presets/{user_id}."
            )
        return value


class PresetPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = PresetSerializer(many=True)


class ShareCodeSerializer(serializers.Serializer):
    share_code = serializers.CharField(
        required=False, help_text="Needed for someone else's preset shared by code."
    )


class ShareCodeQuerySerializer(serializers.Serializer):
    """The query of GET /presets/{user_id}/{preset_id}."""

    share_code = QueryCharField(
        required=False,
        max_length=100,
        help_text="Needed for someone else's preset shared by code.",
    )


class CopySerializer(serializers.Serializer):
    preset_id = serializers.IntegerField(required=False, help_text="A public preset's id.")
    share_code = serializers.CharField(required=False, help_text="A code-shared preset's code.")
    name = serializers.CharField(
        required=False, max_length=100, help_text="Default: the original's, made unique."
    )

    def validate(self, attrs: dict) -> dict:
        if ("preset_id" in attrs) == ("share_code" in attrs):
            raise serializers.ValidationError("Send either preset_id or share_code.")
        return attrs


class ApplyResultSerializer(serializers.Serializer):
    preset_id = serializers.IntegerField()
    session = SessionSerializer()
    warnings = serializers.ListField(child=serializers.CharField())
