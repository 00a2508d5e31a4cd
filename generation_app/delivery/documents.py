"""The one job document: what GET /jobs/{id}, its result, the event streams and the webhooks
all show of a job, with signed links."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from core.errors import NotFound
from core.links import absolute_url, expiry
from generation_app.delivery.status import backend_url
from generation_app.media.links import image_url, preview_url
from generation_app.media.previews import preview_version
from generation_app.media.storage import read_bytes
from generation_app.models import Job, JobImage
from generation_app.scheduling.eta import QueueState, queue_state


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
            "backend": backend_url(job.backend_id),
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
            "width", "height", "infotext", "safety",
        ]  # fmt: skip

    def to_representation(self, image: JobImage) -> dict:
        # Written out, like JobSerializer's: a result or completed event shows several, and
        # a ModelSerializer builds its fields for each answer. The declared fields above
        # still document it (a test keeps the two in step).
        return {
            "index": image.index,
            "role": image.role,
            "url": self.get_url(image),
            "thumbnail_url": self.get_thumbnail_url(image),
            "compressed_url": self.get_compressed_url(image),
            "variants": self.get_variants(image),
            "seed": image.seed,
            "width": image.width,
            "height": image.height,
            "infotext": image.infotext,
            "safety": image.safety,
        }

    def _url(self, name: str) -> str | None:
        if not name:
            return None
        link = self.context.get("link") or image_link(self.context.get("request"))
        return link(name)

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


def image_link(request, expires: int | None = None) -> Callable[[str], str]:
    """Signed links to stored files for one answer: one expiry for all, and each file
    signed once (an image's variants repeat its url, thumbnail and compressed links)."""
    expires = expiry() if expires is None else expires
    return cache(lambda name: image_url(request, name, expires))


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
    link = image_link(request, expires)
    if as_urls:
        inline = [link(i.file) for i in generated]
    else:
        try:
            inline = [base64.b64encode(read_bytes(i.file)).decode() for i in generated]
        except FileNotFoundError:
            raise NotFound(
                f"An image of job {job.pk} is gone from media storage; ask with ?format=url "
                "to see which ones remain.",
                code="image_not_found",
            ) from None
    context = {"request": request, "link": link}
    return {
        "job_id": str(job.pk),
        "status": job.status,
        "images": inline,
        "items": JobImageSerializer(generated, many=True, context=context).data,
        "extras": JobImageSerializer(extras, many=True, context=context).data,
        "grid_url": link(grid.file) if grid else None,
        "expires_at": _datetime(datetime.fromtimestamp(expires, tz=UTC)),
        "seeds": [i.seed for i in generated],
        "warnings": job.warnings,
        "info": {k: job.info[k] for k in INFO_KEYS if k in job.info},
    }


def job_body(job: Job, request=None) -> dict:
    """The job as GET /jobs/{id} shows it."""
    return JobSerializer(job, context={"request": request}).data
