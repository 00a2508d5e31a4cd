"""Response shapes of /health and /models, for the OpenAPI document."""

from __future__ import annotations

from rest_framework import serializers

from core.query import QueryBooleanField


class BackendHealthSerializer(serializers.Serializer):
    url = serializers.CharField()
    name = serializers.CharField()
    reachable = serializers.BooleanField()
    response_ms = serializers.FloatField(allow_null=True)
    loaded_checkpoint = serializers.CharField(allow_null=True)
    busy = serializers.BooleanField(allow_null=True)
    is_simulator = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    checked_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Without a key: when it was last probed."
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    version = serializers.CharField(required=False, help_text="With a key only.")
    time = serializers.DateTimeField()
    probed = serializers.BooleanField(help_text="True: the backends were asked just now.")
    database = serializers.DictField(required=False, help_text="With a key only.")
    queue = serializers.DictField(required=False, help_text="With a key only.")
    backends = BackendHealthSerializer(many=True, required=False, help_text="With a key only.")
    simulator = serializers.BooleanField()
    warning = serializers.CharField(required=False)


class CheckpointSerializer(serializers.Serializer):
    title = serializers.CharField()
    name = serializers.CharField()
    hash = serializers.CharField(allow_null=True)
    filename = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="The model-family keys of the file's metadata, where it has them.",
    )


class NamedSerializer(serializers.Serializer):
    name = serializers.CharField()


class ModelsSerializer(serializers.Serializer):
    checkpoints = CheckpointSerializer(many=True)
    loaded_checkpoint = serializers.CharField(allow_null=True)
    vaes = serializers.ListField(child=serializers.DictField())
    samplers = serializers.ListField(child=serializers.DictField())
    schedulers = serializers.ListField(child=serializers.DictField())
    upscalers = serializers.ListField(child=serializers.DictField())
    embeddings = serializers.ListField(child=serializers.CharField())
    lora_count = serializers.IntegerField()
    controlnet = serializers.DictField(allow_null=True)
    regional_prompter = serializers.BooleanField()
    face_restorers = serializers.ListField(
        child=serializers.DictField(), help_text="Names for `face_restorer` (with restore_faces)."
    )
    styles = serializers.ListField(
        child=serializers.DictField(),
        help_text="Prompt styles ({name, prompt, negative_prompt}) for `styles`.",
    )
    hypernetworks = serializers.ListField(
        child=serializers.DictField(), help_text="Hypernetworks, used as <hypernet:name:1> tags."
    )
    adetailer = serializers.DictField(
        allow_null=True,
        help_text="The ADetailer extension ({version, models}), null when no backend has it.",
    )
    backends = serializers.ListField(child=serializers.DictField())
    unreachable_backends = serializers.ListField(child=serializers.DictField())


class ModelsQuerySerializer(serializers.Serializer):
    """The query of GET /models."""

    refresh = QueryBooleanField(
        required=False, default=False, help_text="Bypass the short cache and ask A1111 now."
    )
