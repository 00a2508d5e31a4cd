"""Request and response shapes of the session endpoints (the README's "Session Structure")."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers


class SessionSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    active_loras = serializers.DictField(
        child=serializers.FloatField(), help_text="LoRA filename -> weight, in the order added."
    )
    controlnet_configs = serializers.ListField(child=serializers.DictField())
    custom_settings = serializers.DictField(
        help_text="Defaults for every generation of this user (preferred_sampler, default_steps...)."
    )
    last_updated = serializers.DateTimeField(
        allow_null=True, help_text="Null for a user who has never changed anything."
    )


class AddLoraSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255, help_text="As listed by GET /loras.")
    weight = serializers.FloatField(
        required=False,
        min_value=settings.LORA_WEIGHT_MIN,
        max_value=settings.LORA_WEIGHT_MAX,
        help_text="Omitted: the LoRA's preferred weight from the catalog.",
    )


class ControlNetConfigsSerializer(serializers.Serializer):
    controlnet_configs = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=True,
        help_text="ControlNet unit settings (model, module or preprocessor, weight...).",
    )


class SettingsPatchSerializer(serializers.Serializer):
    """Only for the schema: the body is an object of settings, each null to remove it."""

    preferred_sampler = serializers.CharField(required=False, allow_null=True)
    default_steps = serializers.IntegerField(required=False, allow_null=True)
    default_cfg = serializers.FloatField(required=False, allow_null=True)
    preferred_checkpoint = serializers.CharField(required=False, allow_null=True)
