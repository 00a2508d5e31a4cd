"""Request and response shapes of the LoRA catalog endpoints."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from core.links import absolute_url
from core.query import QueryBooleanField, QueryCharField, QueryChoiceField, QueryIntegerField
from loras_app.models import Lora, LoraCivitai, ScanRun
from loras_app.search import AUTOCOMPLETE_LIMIT

BASE_MODEL_HELP = "SD1.5, SD2, SDXL, Pony, Illustrious, SD3 or Flux (case-insensitive)."


class LoraQuerySerializer(serializers.Serializer):
    search = QueryCharField(required=False, allow_blank=True, default="", max_length=200)
    tag = QueryCharField(required=False, allow_blank=True, default="", max_length=200)
    base_model = QueryCharField(
        required=False, allow_blank=True, default="", max_length=100, help_text=BASE_MODEL_HELP
    )
    enabled = QueryChoiceField(
        choices=["true", "false", "any"],
        required=False,
        default="true",
        help_text="Disabled LoRAs are hidden unless asked for.",
    )
    include_missing = QueryBooleanField(required=False, default=False)
    limit = QueryIntegerField(required=False, default=20, min_value=1, max_value=100)
    offset = QueryIntegerField(required=False, default=0, min_value=0, max_value=10_000)


class AutocompleteQuerySerializer(serializers.Serializer):
    q = QueryCharField(required=False, allow_blank=True, default="", max_length=200)
    limit = QueryIntegerField(
        required=False, default=AUTOCOMPLETE_LIMIT, min_value=1, max_value=AUTOCOMPLETE_LIMIT
    )


class LoraSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    trigger_words = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Words that call the LoRA up."
    )
    preview_url = serializers.SerializerMethodField(
        help_text="Absolute URL of GET /loras/{filename}/preview (HUB_PUBLIC_URL when set); "
        "null without a preview."
    )

    class Meta:
        model = Lora
        fields = [
            "filename",
            "name",
            "prompt_name",
            "base_model",
            "trigger_words",
            "tags",
            "preferred_weight",
            "preview_url",
            "short_hash",
            "size",
            "enabled",
            "missing",
            "first_seen",
        ]

    def get_tags(self, lora: Lora) -> list[str]:
        return [link.tag.name for link in lora.lora_tags.all()][:10]

    def get_preview_url(self, lora: Lora) -> str | None:
        if not lora.preview:
            return None
        path = reverse("lora-preview", kwargs={"filename": lora.filename})
        return absolute_url(self.context.get("request"), path)


class TagFrequencySerializer(serializers.Serializer):
    name = serializers.CharField(source="tag.name")
    frequency = serializers.IntegerField()


class LoraCivitaiSerializer(serializers.ModelSerializer):
    """What Civitai says, beside (never instead of) the file's and the admin's values."""

    page_url = serializers.CharField(read_only=True, help_text="The version's page on Civitai.")
    thumbnail_url = serializers.SerializerMethodField(
        help_text="Absolute URL of the hub's small copy of Civitai's preview image "
        "(GET /loras/{filename}/civitai-thumbnail); null without one."
    )

    class Meta:
        model = LoraCivitai
        fields = [
            "status",
            "model_name",
            "version_name",
            "model_id",
            "version_id",
            "model_type",
            "base_model",
            "trained_words",
            "nsfw",
            "preview_url",
            "thumbnail_url",
            "page_url",
            "fetched_at",
            "next_try_at",
        ]

    def get_thumbnail_url(self, row: LoraCivitai) -> str | None:
        if not row.thumbnail:
            return None
        path = reverse("lora-civitai-thumbnail", kwargs={"filename": row.lora.filename})
        return absolute_url(self.context.get("request"), path)


class LoraDetailSerializer(LoraSerializer):
    tags = TagFrequencySerializer(source="lora_tags", many=True)
    metadata = serializers.DictField(
        read_only=True,
        help_text="The file's own safetensors __metadata__ as its trainer wrote it: free-form "
        "on purpose (kohya's ss_* keys, modelspec.*, or anything else).",
    )
    civitai = LoraCivitaiSerializer(
        read_only=True,
        allow_null=True,
        help_text="Civitai's answer for this file's sha256 (CIVITAI_ENRICH); null if never "
        "looked up. status: found, not_found (retried later) or failed (retried sooner).",
    )

    class Meta(LoraSerializer.Meta):
        fields = LoraSerializer.Meta.fields + [
            "alias",
            "relative_path",
            "description",
            "sha256",
            "mtime",
            "metadata",
            "last_seen",
            "civitai",
        ]


class LoraPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Matches in all pages.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = LoraSerializer(many=True)


class ChoiceSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Label to show (≤100 characters).")
    value = serializers.CharField(help_text="The LoRA's filename, to send back.")


class ScanRequestSerializer(serializers.Serializer):
    source = serializers.ChoiceField(
        choices=["auto", "a1111"],
        default="auto",
        help_text="auto: LORA_DIR when the hub has one, else the backends' /sdapi/v1/loras.",
    )
    backend = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Backend name or URL (a1111 only)."
    )
    hashes = serializers.BooleanField(default=False, help_text="Also hash new files now.")
    prune = serializers.BooleanField(default=False, help_text="Delete rows whose file is gone.")


class ScanErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The file (or backend) the error is about.")
    reason = serializers.CharField()


class ScanRunSerializer(serializers.ModelSerializer):
    scan_id = serializers.IntegerField(source="pk")
    status_url = serializers.SerializerMethodField()
    errors = ScanErrorSerializer(many=True, read_only=True, help_text="The first few, capped.")

    class Meta:
        model = ScanRun
        fields = [
            "scan_id",
            "status",
            "status_url",
            "source",
            "hashes",
            "prune",
            "added",
            "updated",
            "unchanged",
            "moved",
            "missing",
            "pruned",
            "hashed",
            "error_count",
            "errors",
            "message",
            "files_per_second",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_status_url(self, run: ScanRun) -> str:
        return reverse("lora-scan-detail", kwargs={"scan_id": run.pk})
