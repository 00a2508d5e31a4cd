"""A1111's extras outside txt2img/img2img: PNG info, upscaling (as a job), captions.

PNG info is read here, with Pillow, not by a backend's ``/sdapi/v1/png-info``: A1111's own
route only reads ``image.info`` (``modules/api/api.py`` ``pnginfoapi``), so asking a GPU
server for it would add a round trip and a failure mode (no healthy backend) for nothing.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image
from rest_framework import serializers

from a1111.client import A1111Error
from a1111.messages import actionable_message
from backends.registry import client_for, mark_unhealthy
from core.auth import check_user_access
from core.errors import ApiError, BackendUnavailable, NotFound
from generation_app import services
from generation_app.images import CheckedImage, check_image
from generation_app.models import BackendLease, Job, JobImage
from generation_app.scheduler import usable_backends
from presets_app.infotext import read_infotext

EXIF_IFD, USER_COMMENT = 0x8769, 0x9286


def _user_comment(raw: bytes) -> str:
    """EXIF UserComment as A1111 writes it for JPEG/WebP (``piexif.helper.UserComment``,
    ``encoding="unicode"``: an 8-byte ``UNICODE\\0`` prefix, then UTF-16)."""
    if raw[:8] == b"UNICODE\x00":
        body = raw[8:]
        for codec in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or "\n" in text:
                return text
        return body.decode("utf-16-be", errors="replace")
    return raw[8:].decode("utf-8", errors="replace") if raw[:8] == b"ASCII\x00\x00\x00" else ""


def image_texts(image: CheckedImage) -> tuple[str, dict[str, str]]:
    """(the A1111 infotext, the other text chunks) of an image: PNG ``parameters`` (as
    ``modules/images.py`` ``read_info_from_image``), else the EXIF UserComment."""
    with Image.open(io.BytesIO(base64.b64decode(image.b64))) as opened:
        info = {k: v for k, v in (opened.info or {}).items() if isinstance(v, str)}
        text = info.pop("parameters", "")
        if not text:
            comment = opened.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
            if isinstance(comment, bytes):
                text = _user_comment(comment)
    return text, info


def png_info(image: CheckedImage | None, infotext: str | None) -> dict[str, Any]:
    """The hub request an image (or an infotext) describes, with warnings."""
    other: dict[str, str] = {}
    if image is not None:
        infotext, other = image_texts(image)
        if not infotext:
            raise ApiError(
                "The image carries no generation parameters (no PNG 'parameters' chunk and no "
                "EXIF UserComment); it was not made by A1111, or they were stripped (Discord "
                "keeps PNG chunks, many image hosts and re-encoders do not).",
                code="no_parameters",
            )
    read = read_infotext(infotext or "")
    return {
        "infotext": infotext,
        "kind": read.kind,
        "request": read.request,
        "warnings": read.warnings,
        "unused": read.unused,
        "parameters": read.parameters,
        "postprocessing": other.get("postprocessing"),
    }


# --- upscale: a job like any other ------------------------------------------------------
# A1111's ExtrasBaseRequest (modules/api/models.py): resize_mode 0 = scale by
# upscaling_resize (1..8), 1 = scale to upscaling_resize_w x upscaling_resize_h.
UPSCALE_FIELDS = (
    "resize_mode", "upscaling_resize", "upscaling_resize_w", "upscaling_resize_h",
    "upscaling_crop", "upscaler_1", "upscaler_2", "extras_upscaler_2_visibility",
    "gfpgan_visibility", "codeformer_visibility", "codeformer_weight", "upscale_first",
)  # fmt: skip


def extras_upscalers(catalog: dict[str, Any] | None) -> list[str] | None:
    """Names extras accept: A1111's ``shared.sd_upscalers`` (``/sdapi/v1/upscalers``), not
    the latent modes, which only hires fix takes. None when no backend answered."""
    if catalog is None or catalog.get("upscalers") is None:
        return None
    return [u["name"] for u in catalog["upscalers"] if not u["name"].startswith("Latent")]


def check_upscalers(params: dict[str, Any], catalog: dict[str, Any] | None) -> None:
    """A1111 answers an unknown name with a 500 ``AssertionError: could not find upscaler
    named X`` (``scripts/postprocessing_upscale.py``); the hub refuses it first."""
    valid = extras_upscalers(catalog)
    if valid is None:
        return
    errors = {
        field: [f"Unknown upscaler {params[field]!r}. Valid: {', '.join(valid)}."]
        for field in ("upscaler_1", "upscaler_2")
        if params.get(field) and params[field] not in valid
    }
    if errors:
        raise serializers.ValidationError(errors)


def upscale_payload(params: dict[str, Any], image: CheckedImage) -> dict[str, Any]:
    """The body of /sdapi/v1/extra-single-image, checked against the output pixel limit."""
    body = {k: params[k] for k in UPSCALE_FIELDS if params.get(k) is not None}
    if params.get("upscaling_resize_w") or params.get("upscaling_resize_h"):
        body["resize_mode"] = 1
        width = params.get("upscaling_resize_w") or image.width
        height = params.get("upscaling_resize_h") or image.height
        body.setdefault("upscaling_resize_w", width)
        body.setdefault("upscaling_resize_h", height)
    else:
        body["resize_mode"] = 0
        scale = float(params.get("upscaling_resize") or 2)
        body["upscaling_resize"] = scale
        width, height = int(image.width * scale), int(image.height * scale)
    if width * height > settings.HUB_MAX_OUTPUT_PIXELS:
        raise serializers.ValidationError(
            {"upscaling_resize": [
                f"The result would be {width}x{height} ({width * height:,} pixels); at most "
                f"{settings.HUB_MAX_OUTPUT_PIXELS:,}. Lower the scale or the target size."
            ]}
        )  # fmt: skip
    body["show_extras_results"] = True
    body["image"] = image.b64
    return body


def source_image(request, job_id, index: int) -> tuple[CheckedImage, Job]:
    """Image ``index`` of a stored result the caller may see."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No job {job_id}.", code="job_not_found")
    check_user_access(request, job.user_id)
    image = job.images.filter(role=JobImage.Role.IMAGE, index=index).first()
    if image is None:
        count = job.images.filter(role=JobImage.Role.IMAGE).count()
        raise NotFound(
            f"Job {job_id} has no image {index} ({count} image(s), status {job.status}).",
            code="image_not_found",
        )
    try:
        with default_storage.open(image.file, "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, OSError):
        raise NotFound(
            f"Image {index} of job {job_id} is gone from storage.", code="image_not_found"
        ) from None
    return check_image(raw, "image"), job


def create_upscale_job(
    *, user_id: str, payload: dict[str, Any], received: dict[str, Any], priority: int = 0,
    idempotency_key: str | None = None, fingerprint: str = "",
) -> tuple[Job, bool]:  # fmt: skip
    """Save and enqueue an upscale job, with the same per-user limit and Idempotency-Key
    rule as POST /generate/* (``services.create_job``)."""
    if idempotency_key:
        first = Job.objects.filter(user_id=user_id, idempotency_key=idempotency_key).first()
        if first is not None:
            if first.kind != Job.Kind.UPSCALE or first.request_fingerprint != fingerprint:
                raise ApiError(
                    f"Idempotency-Key {idempotency_key!r} was used for another request "
                    f"(job {first.pk}). Use a new key for a new request.",
                    code="idempotency_key_reused",
                    status_code=422,
                )
            return first, False
    job = Job(
        user_id=user_id,
        kind=Job.Kind.UPSCALE,
        request=received,
        payload=payload,
        priority=priority,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    with transaction.atomic():
        services._lock_user(user_id)
        services._check_active_limit(user_id)
        job.save(force_insert=True)
        transaction.on_commit(lambda: services.enqueue(job))
    return job, True


def run_extras(client, payload: dict[str, Any]) -> dict[str, Any]:
    """For the runner: the extras call, answered in the shape of a generation result (one
    image, ``html_info`` kept) so it is stored like any other."""
    answer = client.extra_single_image(payload) or {}
    image = answer.get("image")
    if not image:
        raise A1111Error(client.base_url, 200, "extra-single-image answered without an image")
    return {
        "images": [image],
        "info": {"all_seeds": [None], "html_info": answer.get("html_info") or ""},
    }


# --- captions: a direct answer with a bounded wait --------------------------------------
# The hub's names -> A1111's (modules/api/api.py interrogateapi: "clip" or "deepdanbooru").
INTERROGATE_MODELS = {"clip": "clip", "deepbooru": "deepdanbooru", "deepdanbooru": "deepdanbooru"}


def _interrogate_backends() -> list:
    """Healthy enabled backends, free ones (no job's lease) first."""
    backends = list(usable_backends().order_by("pk"))
    busy = set(BackendLease.objects.values_list("backend_id", flat=True))
    return [b for b in backends if b.pk not in busy] + [b for b in backends if b.pk in busy]


def interrogate(image: CheckedImage, model: str) -> dict[str, Any]:
    """A caption from the first backend that answers. A1111 runs interrogate under its
    queue lock, so on a backend running a job it waits for that job to end: the wait is
    bounded by HUB_INTERROGATE_TIMEOUT (504 past it)."""
    a1111_model = INTERROGATE_MODELS[model]
    timeout = settings.HUB_INTERROGATE_TIMEOUT
    backends = _interrogate_backends()
    if not backends:
        raise BackendUnavailable("No healthy backend to caption with; see GET /health.")
    for backend in backends:
        client = client_for(backend, generation_timeout=timeout)
        try:
            caption = client.interrogate(image.b64, a1111_model)
        except A1111Error as exc:
            if exc.failure == "connect":
                mark_unhealthy(backend, exc.message)
                continue  # never reached it: the next backend may answer
            if exc.failure == "timeout":
                raise ApiError(
                    f"{backend.name} did not caption within {timeout:.0f} s (HUB_INTERROGATE_"
                    "TIMEOUT); it may be busy with a long job. Try again later.",
                    code="backend_timeout",
                    status_code=504,
                ) from None
            raise ApiError(
                f"{backend.name} could not caption the image: {actionable_message(exc)}",
                code="backend_error",
                status_code=502,
            ) from None
        finally:
            client.close()
        return {"caption": caption, "model": model, "backend": backend.name}
    raise BackendUnavailable("No backend could be reached to caption with; see GET /health.")
