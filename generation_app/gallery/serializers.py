"""The gallery's shapes: an image as the gallery shows it, its filters, and the actions'
bodies."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.query import QueryBooleanField, QueryCharField, QueryChoiceField, QueryIntegerField
from generation_app.delivery.documents import JobImageSerializer
from generation_app.models import Job, JobImage

MAX_TAGS = 20


class GalleryQuerySerializer(serializers.Serializer):
    favorite = QueryBooleanField(required=False, default=None)
    tag = QueryCharField(required=False, max_length=50)
    kind = QueryChoiceField(choices=Job.Kind.values, required=False)
    checkpoint = QueryCharField(required=False, max_length=200)
    lora = QueryCharField(required=False, max_length=200)
    community_id = QueryCharField(required=False, max_length=100)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = QueryCharField(required=False, max_length=200, help_text="Words in the prompt.")
    cursor = QueryCharField(required=False, max_length=200)
    page_size = QueryIntegerField(required=False, min_value=1, max_value=100)


class GalleryImageSerializer(JobImageSerializer):
    """An image as the gallery shows it: the job's image document (signed links, safety)
    with its id, lineage and what the user did with it."""

    job_id = serializers.UUIDField()
    kind = serializers.CharField(source="job.kind")
    checkpoint = serializers.CharField(source="job.checkpoint")
    community_id = serializers.CharField(source="job.community_id")
    parent_job_id = serializers.UUIDField(source="job.parent_job_id", allow_null=True)
    parent_image_index = serializers.IntegerField(source="job.parent_image_index", allow_null=True)
    tags = serializers.SerializerMethodField()

    class Meta(JobImageSerializer.Meta):
        fields = [
            "id", "job_id", "index", "kind", "prompt", "seed", "width", "height", "checkpoint",
            "community_id", "favorite", "tags", "created_at", "url", "thumbnail_url",
            "compressed_url", "safety", "infotext", "parent_job_id", "parent_image_index",
        ]  # fmt: skip

    def to_representation(self, image: JobImage) -> dict:
        # Its own fields, the declared way: the job document's written-out shape is not this.
        return serializers.ModelSerializer.to_representation(self, image)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, image: JobImage) -> list[str]:
        return sorted(tag.name for tag in image.tags.all())


class TagsSerializer(serializers.Serializer):
    tags = serializers.ListField(
        child=serializers.RegexField(r"^[\w\- ]{1,50}$"), max_length=MAX_TAGS,
        help_text=f"At most {MAX_TAGS} tags of letters, digits, spaces, - and _; replaces them.",
    )  # fmt: skip


class RerunSerializer(serializers.Serializer):
    seed = serializers.IntegerField(required=False, min_value=-1, help_text="Default: new (-1).")


class VariationsSerializer(serializers.Serializer):
    count = serializers.IntegerField(required=False, default=4, min_value=1, max_value=8)
    subseed_strength = serializers.FloatField(
        required=False, default=0.3, min_value=0.01, max_value=1
    )


class UpscaleImageSerializer(serializers.Serializer):
    upscaler = serializers.CharField(
        required=False, max_length=200, help_text="Default: the first of GET /models."
    )
    scale = serializers.FloatField(required=False, default=2, min_value=1, max_value=8)


class RemixSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=4000)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    denoising_strength = serializers.FloatField(
        required=False, default=0.6, min_value=0, max_value=1
    )


class SavePresetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class PresetRefSerializer(serializers.Serializer):
    preset_id = serializers.IntegerField()
    name = serializers.CharField()


class GalleryPageSerializer(serializers.Serializer):
    """One page of a gallery: follow ``next`` (a cursor link) for the older images."""

    next = serializers.URLField(allow_null=True, help_text="The next (older) page.")
    previous = serializers.URLField(allow_null=True, help_text="The page before.")
    results = GalleryImageSerializer(many=True)
