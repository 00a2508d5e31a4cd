"""Request and response shapes of the generation and job endpoints."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from core.errors import NotFound
from core.links import absolute_url, expiry
from core.serializers import OptionalBooleanField
from generation_app.images import preview_version, read_bytes
from generation_app.media import image_url, preview_url
from generation_app.models import Job, JobImage
from generation_app.passthrough import ScriptFieldsMixin
from generation_app.selectors import QueueState, queue_state
from generation_app.webhooks import check_url
from genparams.params import GenerationParamsSerializer


class LoraWeightsField(serializers.DictField):
    """``{filename: weight}``: the LoRAs to add for this request."""

    def __init__(self, **kwargs):
        weight = serializers.FloatField(
            min_value=settings.LORA_WEIGHT_MIN, max_value=settings.LORA_WEIGHT_MAX
        )
        super().__init__(child=weight, **kwargs)


class Txt2ImgRequestSerializer(ScriptFieldsMixin, GenerationParamsSerializer):
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
        "secret the Standard Webhooks way (see the README's Webhooks). Default: the key's "
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


class JobLinksMixin:
    def links(self, job: Job) -> dict[str, str]:
        # One reverse(): the other links are fixed suffixes of the job's own URL (see urls.py).
        request = self.context.get("request")
        base = absolute_url(request, reverse("job-detail", args=[job.pk]))
        return {
            "self": base,
            "result": f"{base}/result",
            "cancel": f"{base}/cancel",
            "events": f"{base}/events",
        }


# The Job columns JobSerializer reads: GET /jobs/{id} loads only these.
STATUS_FIELDS = (
    "id", "user_id", "kind", "status", "progress", "eta_seconds", "step", "total_steps",
    "message", "warnings", "backend_id", "created_at", "started_at", "finished_at",
)  # fmt: skip


class JobSerializer(JobLinksMixin, serializers.Serializer):
    """What the README's polling loop reads. A plain Serializer: this is the hottest read."""

    job_id = serializers.UUIDField(source="id", read_only=True)
    user_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.FloatField(help_text="0..1")
    eta_seconds = serializers.SerializerMethodField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    queue_position = serializers.SerializerMethodField(help_text="1 = next; null unless queued.")
    message = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    backend = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    preview_url = serializers.SerializerMethodField(
        help_text="While running: the latest live preview (small WebP, GET /jobs/{id}/preview; "
        "the URL changes with each new preview; signed: it opens without an API key until "
        "it expires). null otherwise, or with live_preview: false."
    )
    links = serializers.SerializerMethodField()

    def to_representation(self, job: Job) -> dict:
        # Written out rather than walking the declared fields: this is the call every
        # polling client makes about twice a second, and DRF copies a serializer's fields
        # per instance. The declared fields above still document it (a test keeps the two
        # in step).
        queue: QueueState = self.context.get("queue") or queue_state(job)
        return {
            "job_id": str(job.id),
            "user_id": job.user_id,
            "kind": job.kind,
            "status": job.status,
            "progress": job.progress,
            "eta_seconds": queue.eta_seconds,
            "step": job.step,
            "total_steps": job.total_steps,
            "queue_position": queue.position,
            "message": job.message,
            "warnings": job.warnings,
            "backend": job.backend.url if job.backend_id else None,
            "created_at": _datetime(job.created_at),
            "started_at": _datetime(job.started_at),
            "finished_at": _datetime(job.finished_at),
            "preview_url": self._preview_url(job),
            "links": self.links(job),
        }

    def _preview_url(self, job: Job) -> str | None:
        if job.status != Job.Status.RUNNING:
            return None
        version = preview_version(str(job.pk))
        if version is None:
            return None
        return preview_url(self.context.get("request"), job.pk, version)

    # For the OpenAPI document only (to_representation above does the work).
    def get_queue_position(self, job: Job) -> int | None: ...

    def get_eta_seconds(self, job: Job) -> float | None: ...

    def get_backend(self, job: Job) -> str | None: ...

    def get_preview_url(self, job: Job) -> str | None: ...

    def get_links(self, job: Job) -> dict[str, str]: ...


_DATETIME = serializers.DateTimeField()


def _datetime(value):
    return _DATETIME.to_representation(value) if value else None


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


class ImageVariantSerializer(serializers.Serializer):
    name = serializers.ChoiceField(
        choices=["original", "compressed", "thumbnail"],
        help_text="original: as A1111 made it (PNG with its infotext); compressed: a JPEG "
        "under HUB_COMPRESSED_MAX_BYTES (a Discord upload); thumbnail: a small WebP.",
    )
    url = serializers.URLField(help_text="Signed: opens without an API key until it expires.")
    content_type = serializers.CharField()
    bytes = serializers.IntegerField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


VARIANT_FIELDS = (("original", "file"), ("compressed", "compressed"), ("thumbnail", "thumbnail"))


class JobImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="The image as A1111 made it. Signed: opens without an API key until it "
        "expires (HUB_IMAGE_URL_SECONDS)."
    )
    thumbnail_url = serializers.SerializerMethodField()
    compressed_url = serializers.SerializerMethodField(
        help_text="A JPEG under HUB_COMPRESSED_MAX_BYTES: what to upload to Discord."
    )
    variants = serializers.SerializerMethodField()

    class Meta:
        model = JobImage
        fields = [
            "index", "role", "url", "thumbnail_url", "compressed_url", "variants", "seed",
            "width", "height", "infotext",
        ]  # fmt: skip

    def _url(self, name: str) -> str | None:
        if not name:
            return None
        return image_url(self.context.get("request"), name, self.context.get("expires"))

    def get_url(self, image: JobImage) -> str:
        return self._url(image.file)

    def get_thumbnail_url(self, image: JobImage) -> str | None:
        return self._url(image.thumbnail)

    def get_compressed_url(self, image: JobImage) -> str:
        # The grid is a compressed JPEG itself.
        return self._url(image.compressed or image.file)

    @extend_schema_field(ImageVariantSerializer(many=True))
    def get_variants(self, image: JobImage) -> list[dict]:
        known = image.variants or {}
        variants = []
        for name, attr in VARIANT_FIELDS:
            stored = getattr(image, attr)
            if not stored:
                continue
            meta = known.get(name) or {}
            variants.append(
                {
                    "name": name,
                    "url": self._url(stored),
                    "content_type": meta.get("content_type") or _content_type(stored),
                    "bytes": meta.get("bytes"),
                    "width": meta.get("width", image.width if name == "original" else None),
                    "height": meta.get("height", image.height if name == "original" else None),
                }
            )
        return variants


def _content_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}.get(
        ext, "application/octet-stream"
    )


class JobInfoSerializer(serializers.Serializer):
    """What A1111 says it generated (its `info`), the keys it sent of these."""

    prompt = serializers.CharField(
        required=False, allow_null=True, help_text="As run, LoRA tags included."
    )
    negative_prompt = serializers.CharField(required=False, allow_null=True)
    seed = serializers.IntegerField(required=False, allow_null=True)
    all_seeds = serializers.ListField(child=serializers.IntegerField(), required=False)
    subseed = serializers.IntegerField(required=False, allow_null=True)
    width = serializers.IntegerField(required=False, allow_null=True)
    height = serializers.IntegerField(required=False, allow_null=True)
    sampler_name = serializers.CharField(required=False, allow_null=True)
    cfg_scale = serializers.FloatField(required=False, allow_null=True)
    steps = serializers.IntegerField(required=False, allow_null=True)
    batch_size = serializers.IntegerField(required=False, allow_null=True)
    sd_model_name = serializers.CharField(required=False, allow_null=True)
    sd_model_hash = serializers.CharField(required=False, allow_null=True)
    sd_vae_name = serializers.CharField(required=False, allow_null=True)
    denoising_strength = serializers.FloatField(required=False, allow_null=True)
    clip_skip = serializers.IntegerField(required=False, allow_null=True)
    extra_generation_params = serializers.DictField(
        required=False,
        help_text="Free-form: whatever extensions add to the infotext (Lora hashes, "
        "ControlNet units, Hires upscaler…), as A1111 reports it.",
    )
    version = serializers.CharField(required=False, allow_null=True)


class JobResultSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=[Job.Status.COMPLETED, Job.Status.CANCELLED],
        help_text="cancelled: the images that finished before the job was cancelled.",
    )
    images = serializers.ListField(
        child=serializers.CharField(),
        help_text="Base64 PNGs of the generated images (signed URLs with ?format=url).",
    )
    items = JobImageSerializer(many=True)
    extras = JobImageSerializer(many=True, help_text="ControlNet maps, A1111's grids, masks.")
    grid_url = serializers.URLField(
        allow_null=True,
        help_text="A batch (2 or more images) as one JPEG, rows x columns chosen for the "
        "count, under HUB_COMPRESSED_MAX_BYTES: one Discord attachment. null for one image.",
    )
    expires_at = serializers.DateTimeField(
        help_text="When the signed URLs of this answer stop working without a key."
    )
    seeds = serializers.ListField(child=serializers.IntegerField())
    warnings = serializers.ListField(child=serializers.CharField())
    info = JobInfoSerializer()


INFO_KEYS = (
    "prompt", "negative_prompt", "seed", "all_seeds", "subseed", "width", "height",
    "sampler_name", "cfg_scale", "steps", "batch_size", "sd_model_name", "sd_model_hash",
    "sd_vae_name", "denoising_strength", "clip_skip", "extra_generation_params", "version",
)  # fmt: skip


def result_body(job: Job, request: Request, as_urls: bool) -> dict[str, Any]:
    images = list(job.images.all())
    generated = [i for i in images if i.role == JobImage.Role.IMAGE]
    grid = next((i for i in images if i.role == JobImage.Role.GRID), None)
    extras = [i for i in images if i.role not in (JobImage.Role.IMAGE, JobImage.Role.GRID)]
    expires = expiry()  # one expiry for every link of the answer
    if as_urls:
        inline = [image_url(request, i.file, expires) for i in generated]
    else:
        try:
            inline = [base64.b64encode(read_bytes(i.file)).decode() for i in generated]
        except FileNotFoundError:
            raise NotFound(
                f"An image of job {job.pk} is gone from media storage; ask with ?format=url "
                "to see which ones remain.",
                code="image_not_found",
            ) from None
    context = {"request": request, "expires": expires}
    return {
        "job_id": str(job.pk),
        "status": job.status,
        "images": inline,
        "items": JobImageSerializer(generated, many=True, context=context).data,
        "extras": JobImageSerializer(extras, many=True, context=context).data,
        "grid_url": image_url(request, grid.file, expires) if grid else None,
        "expires_at": _datetime(datetime.fromtimestamp(expires, tz=UTC)),
        "seeds": [i.seed for i in generated],
        "warnings": job.warnings,
        "info": {k: job.info[k] for k in INFO_KEYS if k in job.info},
    }


def job_body(job: Job, request=None) -> dict:
    """The job as GET /jobs/{id} shows it."""
    return JobSerializer(job, context={"request": request}).data


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
