"""From an HTTP request to a JobRequest: JSON or multipart, images checked, kinds told apart.

Also the result body, which reads stored images back. Kept out of the views so they stay
thin and out of the payload builder so that stays pure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.request import Request

from core.errors import ApiError
from core.parsers import UnsafeValue, check_value
from core.strict import JsonObject
from core.structured import parse_structured
from core.uploads import NO_FILES, FileFields, bound_uploads
from generation_app.admission.rooms import ROOM_FIELDS
from generation_app.admission.service import Submission
from generation_app.jobs.build import JobRequest
from generation_app.jobs.context import GenerationContext
from generation_app.media.uploads import CheckedImage, check_image, outpaint_canvas, to_b64_png
from generation_app.models import Job

# Fields that carry structure; in multipart they arrive as text.
STRUCTURED_FIELDS = {
    "loras",
    "controlnet_units",
    "regional_config",
    "styles",
    "regions",
    "init_images",
}


# Of those, the ones that are a list of objects (`requests` sends one form field per object).
LIST_OF_OBJECTS_FIELDS = {"controlnet_units", "regions"}


HUB_REQUEST_FIELDS = {"user_id", "preset_id", *ROOM_FIELDS}


def request_data(request: Request, files: FileFields = NO_FILES) -> dict[str, Any]:
    """The request body as a plain dict; uploaded files (only the ``files`` this operation
    takes, bounded while they stream in) become base64 under their names."""
    bound_uploads(request, files)
    data = request.data
    if not hasattr(data, "getlist"):
        if not isinstance(data, dict):
            raise ApiError("The request body must be a JSON object.", code="malformed_request")
        return JsonObject(data)  # a copy still marked as JSON (core.strict)
    out: dict[str, Any] = {}
    for key in data.keys():
        if key in request.FILES:
            continue
        values = data.getlist(key)
        try:
            check_value(values, key)
        except UnsafeValue as exc:
            raise ApiError(str(exc), code="malformed_request") from None
        if key in STRUCTURED_FIELDS:  # a prompt such as "[masterpiece], ..." stays text
            values = [parse_structured(key, v) for v in values]
        if key in LIST_OF_OBJECTS_FIELDS and all(isinstance(v, dict) for v in values):
            # `requests` sends a list of dicts in `data=` as one form field per dict
            out[key] = values
        else:
            out[key] = values[0] if len(values) == 1 else values
    for key in request.FILES:
        encoded = [base64.b64encode(f.read()).decode() for f in request.FILES.getlist(key)]
        out[key] = encoded if len(encoded) > 1 or key == "init_images" else encoded[0]
    return out


def fingerprint(data: dict[str, Any]) -> str:
    """A digest of the request as received (files included), to tell a retry from reuse."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def elide_images(
    data: dict[str, Any], images: dict[str, CheckedImage | list[CheckedImage]]
) -> dict[str, Any]:
    """The request as received, with each image replaced by a short description."""

    def describe(image: CheckedImage) -> str:
        return f"<image {image.width}x{image.height}, {len(image.b64) * 3 // 4:,} bytes>"

    received = {k: v for k, v in data.items() if k not in images}
    for key, value in images.items():
        received[key] = [describe(i) for i in value] if isinstance(value, list) else describe(value)
    return received


def job_params(data: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in HUB_REQUEST_FIELDS and k not in drop}


def txt2img(
    data: dict[str, Any], context: GenerationContext, kind: str = Job.Kind.TXT2IMG
) -> JobRequest:
    return JobRequest(
        kind=kind,
        user_id=data["user_id"],
        params=job_params(data, set()),
        received=data,
        context=context,
        preset_id=data.get("preset_id"),
    )


def _snap(size: int) -> int:
    """Round down to a multiple of 8 within the size limits."""
    return max(settings.HUB_MIN_SIZE, min(settings.HUB_MAX_WIDTH, size - size % 8))


def checked_init_images(values: list[Any]) -> list[CheckedImage]:
    return [check_image(image, f"init_images[{i}]") for i, image in enumerate(values)]


def add_init_images(
    params: dict[str, Any], images: dict[str, Any], init: list[CheckedImage]
) -> None:
    """img2img's source images; without a size, the first image's own (snapped to 8)."""
    if not init:
        return
    params["init_images"] = [image.b64 for image in init]
    params.setdefault("width", _snap(init[0].width))
    params.setdefault("height", _snap(init[0].height))
    images["init_images"] = init


def img2img(data: dict[str, Any], context: GenerationContext) -> JobRequest:
    init = checked_init_images(data["init_images"])
    mask = check_image(data["mask"], "mask") if data.get("mask") else None
    if mask is not None and (mask.width, mask.height) != (init[0].width, init[0].height):
        raise serializers.ValidationError(
            {
                "mask": [
                    f"The mask is {mask.width}x{mask.height} but the image is "
                    f"{init[0].width}x{init[0].height}; A1111 would stretch it over the image. "
                    "Send a mask of the image's own size."
                ]
            }
        )
    params = job_params(data, {"init_images", "mask"})
    images: dict[str, Any] = {}
    add_init_images(params, images, init)
    if mask is not None:
        params["mask"] = mask.b64
        images["mask"] = mask
    return JobRequest(
        kind=Job.Kind.INPAINT if mask else Job.Kind.IMG2IMG,
        user_id=data["user_id"],
        params=params,
        received=elide_images(data, images),
        context=context,
        preset_id=data.get("preset_id"),
    )


def outpaint(data: dict[str, Any], context: GenerationContext) -> JobRequest:
    source = check_image(data["image"], "image")
    left, right, up, down = (data.get(k) or 0 for k in ("left", "right", "up", "down"))
    width, height = source.width, source.height
    if data.get("target_width") and not (left or right):
        extra = max(0, data["target_width"] - width)
        left, right = extra // 2, extra - extra // 2
    if data.get("target_height") and not (up or down):
        extra = max(0, data["target_height"] - height)
        up, down = extra // 2, extra - extra // 2
    # A1111 works in multiples of 8: grow the right and bottom borders to get there.
    right += -(width + left + right) % 8
    down += -(height + up + down) % 8
    new_width, new_height = width + left + right, height + up + down
    if new_width > settings.HUB_MAX_WIDTH or new_height > settings.HUB_MAX_HEIGHT:
        raise serializers.ValidationError(
            {"image": [f"Extended size {new_width}x{new_height} is over the limit of "
                       f"{settings.HUB_MAX_WIDTH}x{settings.HUB_MAX_HEIGHT}."]}
        )  # fmt: skip
    canvas, mask = outpaint_canvas(source.open(), left, right, up, down)
    drop = {"image", "left", "right", "up", "down", "target_width", "target_height"}
    params = job_params(data, drop)
    params.update(
        init_images=[to_b64_png(canvas)],
        mask=to_b64_png(mask),
        width=new_width,
        height=new_height,
        resize_mode=0,
    )
    params.setdefault("inpainting_fill", 1)
    params.setdefault("mask_blur", 8)
    params.setdefault("inpaint_full_res", False)
    params.setdefault("denoising_strength", 0.8)
    return JobRequest(
        kind=Job.Kind.OUTPAINT,
        user_id=data["user_id"],
        params=params,
        received=elide_images(data, {"image": source}),
        context=context,
        preset_id=data.get("preset_id"),
    )


def submission(
    request: Request,
    data: dict[str, Any],
    received: dict[str, Any],
    kind: str,
    *,
    user_id: str | None = None,
    img2img: bool = False,
    takes_scripts: bool = True,
    needs_context: bool = True,
) -> Submission:
    """What the one door needs to know of an HTTP create request: who sends it, the
    validated fields, the body as received (its fingerprint), and its Idempotency-Key."""
    return submission_for(
        request.user,
        data,
        received,
        kind,
        base_url=request.build_absolute_uri("/").rstrip("/"),
        idempotency_key=idempotency_key(request),
        user_id=user_id,
        img2img=img2img,
        takes_scripts=takes_scripts,
        needs_context=needs_context,
    )


def submission_for(
    principal: Any,
    data: dict[str, Any],
    received: dict[str, Any],
    kind: str,
    *,
    base_url: str = "",
    idempotency_key: str | None = None,
    user_id: str | None = None,
    img2img: bool = False,
    takes_scripts: bool = True,
    needs_context: bool = True,
) -> Submission:
    """The same, for a request that did not come over the REST API (a Discord
    interaction): the caller says who sends it and where the hub is."""
    return Submission(
        principal=principal,
        user_id=user_id or data["user_id"],
        kind=kind,
        fields=data,
        fingerprint=fingerprint(received),
        idempotency_key=idempotency_key,
        preset_id=data.get("preset_id"),
        webhook_url=data.get("webhook_url"),
        base_url=base_url,
        img2img=img2img,
        takes_scripts=takes_scripts,
        needs_context=needs_context,
        community_id=data.get("community_id") or None,
        channel_id=data.get("channel_id") or None,
        channel_nsfw=bool(data.get("channel_nsfw")),
        dry_run=bool(data.get("dry_run")),
    )


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise ApiError("Idempotency-Key is longer than 200 characters.", code="badidempotency_key")
    return key or None
