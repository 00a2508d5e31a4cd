"""Request and response shapes of the generation and job endpoints."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.query import PageQuerySerializer, QueryCharField, QueryChoiceField
from core.serializers import OptionalBooleanField
from generation_app.admission.rooms import RoomFields
from generation_app.admission.scripts import ScriptFieldsMixin
from generation_app.delivery.documents import JobLinksMixin
from generation_app.delivery.webhooks import check_url
from generation_app.media.links import image_url
from generation_app.models import Job, JobImage
from genparams.params import GenerationParamsSerializer


class LoraWeightsField(serializers.DictField):
    """``{filename: weight}``: the LoRAs to add for this request."""

    def __init__(self, **kwargs):
        weight = serializers.FloatField(
            min_value=settings.LORA_WEIGHT_MIN, max_value=settings.LORA_WEIGHT_MAX
        )
        super().__init__(child=weight, **kwargs)


class Txt2ImgRequestSerializer(RoomFields, ScriptFieldsMixin, GenerationParamsSerializer):
    user_id = serializers.CharField(max_length=200)
    preset_id = serializers.IntegerField(required=False, allow_null=True)
    loras = LoraWeightsField(required=False)
    use_session_loras = OptionalBooleanField(
        required=False, default=True, help_text="false: ignore the session's LoRA stack."
    )
    live_preview = OptionalBooleanField(
        required=False,
        default=True,
        help_text="false: no live previews while the job runs (no preview_url, no `preview` "
        "events; A1111 is not asked for them).",
    )
    webhook_url = serializers.URLField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="POST this job's events here (job.started, job.progress at most every 2 s, "
        "job.completed, job.failed, job.cancelled), signed with your API key's webhook "
        "secret the Standard Webhooks way (see docs/guide/push.md). Default: the key's "
        "webhook_url. Public addresses only, unless HUB_WEBHOOK_ALLOW_PRIVATE=1.",
    )

    def validate_webhook_url(self, value: str) -> str:
        return check_url(value) if value else value

    def validate_loras(self, value: dict[str, float]) -> dict[str, float]:
        limit = settings.HUB_MAX_ACTIVE_LORAS
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} LoRAs per request.")
        return value


class ImageInputField(serializers.CharField):
    """A base64 image (a data: URI is fine). Multipart uploads are merged in by the view."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)


def merge_init_image(attrs: dict[str, Any]) -> None:
    """``init_image`` (one image, the short form) becomes the first of ``init_images``."""
    if attrs.get("init_image"):
        attrs.setdefault("init_images", []).insert(0, attrs.pop("init_image"))


class InpaintFieldsMixin(serializers.Serializer):
    mask = ImageInputField(required=False, allow_null=True, help_text="White = repaint.")
    mask_blur = serializers.IntegerField(required=False, min_value=0, max_value=64)
    inpainting_fill = serializers.IntegerField(
        required=False, min_value=0, max_value=3,
        help_text="0 fill, 1 original, 2 latent noise, 3 latent nothing.",
    )  # fmt: skip
    inpaint_full_res = OptionalBooleanField(required=False, help_text="Only masked area.")
    inpaint_full_res_padding = serializers.IntegerField(required=False, min_value=0, max_value=256)
    inpainting_mask_invert = serializers.IntegerField(required=False, min_value=0, max_value=1)


class Img2ImgRequestSerializer(InpaintFieldsMixin, Txt2ImgRequestSerializer):
    init_images = serializers.ListField(
        child=ImageInputField(), required=False, min_length=1, max_length=16
    )
    init_image = ImageInputField(required=False, help_text="Shorthand for one init image.")
    resize_mode = serializers.IntegerField(
        required=False, min_value=0, max_value=3,
        help_text="0 just resize, 1 crop and resize, 2 resize and fill, 3 latent upscale.",
    )  # fmt: skip

    def validate(self, attrs):
        attrs = super().validate(attrs)
        merge_init_image(attrs)
        if not attrs.get("init_images"):
            raise serializers.ValidationError(
                {"init_images": ["Give at least one image: base64 in JSON, or a multipart file."]}
            )
        batch = attrs.get("batch_size") or 1
        if len(attrs["init_images"]) > max(1, batch):
            raise serializers.ValidationError(
                {"init_images": [f"Give one image, or at most batch_size ({batch})."]}
            )
        return attrs


class OutpaintRequestSerializer(InpaintFieldsMixin, Txt2ImgRequestSerializer):
    image = ImageInputField(help_text="The picture to extend (base64 or multipart file).")
    left = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1024)
    right = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1024)
    up = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1024)
    down = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1024)
    target_width = serializers.IntegerField(required=False, min_value=64)
    target_height = serializers.IntegerField(required=False, min_value=64)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not any(
            attrs.get(k) for k in ("left", "right", "up", "down", "target_width", "target_height")
        ):
            raise serializers.ValidationError(
                "Say how far to extend: left/right/up/down in pixels, or target_width/target_height."
            )
        return attrs


class JobListSerializer(JobLinksMixin, serializers.Serializer):
    """Gallery rows: no queue or ETA maths per row, plus a first thumbnail."""

    job_id = serializers.UUIDField(source="id", read_only=True)
    user_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.FloatField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    thumbnail_url = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    def get_thumbnail_url(self, job: Job) -> str | None:
        images = [i for i in job.images.all() if i.role == JobImage.Role.IMAGE]
        if not images or not images[0].thumbnail:
            return None
        return image_url(self.context.get("request"), images[0].thumbnail)

    def get_links(self, job: Job) -> dict[str, str]:
        return self.links(job)


class QueueUserSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    queued = serializers.IntegerField()
    running = serializers.IntegerField()


class QueueCheckpointSerializer(serializers.Serializer):
    checkpoint = serializers.CharField(allow_null=True, help_text="null: the backend's own.")
    queued = serializers.IntegerField()


class QueueRunningJobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    user_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    checkpoint = serializers.CharField(allow_null=True)
    progress = serializers.FloatField()
    started_at = serializers.DateTimeField(allow_null=True)


class QueueBackendSerializer(serializers.Serializer):
    url = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    healthy = serializers.BooleanField()
    loaded_checkpoint = serializers.CharField(allow_null=True)
    job = QueueRunningJobSerializer(allow_null=True)


class QueueSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    oldest_wait_seconds = serializers.FloatField(allow_null=True)
    users = QueueUserSerializer(many=True, help_text="The busiest users first (at most 50).")
    checkpoints = QueueCheckpointSerializer(many=True)
    backends = QueueBackendSerializer(many=True)


class JobListQuerySerializer(PageQuerySerializer):
    """The query of GET /jobs."""

    user_id = QueryCharField(
        required=False, max_length=200, help_text="Whose jobs (default: the key's user)."
    )
    status = QueryChoiceField(choices=Job.Status.values, required=False)
    kind = QueryChoiceField(choices=Job.Kind.values, required=False)


class ResultQuerySerializer(serializers.Serializer):
    """The query of GET /jobs/{job_id}/result."""

    format = QueryChoiceField(
        choices=["base64", "url"],
        required=False,
        default="base64",
        help_text="url: `images` are signed URLs instead of base64 (smaller answer).",
    )
