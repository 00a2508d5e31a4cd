"""A1111's extras outside txt2img/img2img: PNG info, upscaling (as a job), captions.

PNG info is read here, with Pillow, not by a backend's ``/sdapi/v1/png-info``: A1111's own
route only reads ``image.info`` (``modules/api/api.py`` ``pnginfoapi``), so asking a GPU
server for it would add a round trip and a failure mode (no healthy backend) for nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from a1111.client import A1111Error
from generation_app.admission.intake import submission_for
from generation_app.admission.rooms import RoomFields
from generation_app.admission.scripts import SCRIPT_FIELDS
from generation_app.admission.service import Admitted, Plan, submit
from generation_app.extras.source import source_image
from generation_app.jobs.kinds import KindSpec, register_kind
from generation_app.media.uploads import CheckedImage, check_image
from generation_app.models import Job
from genparams.names import load_catalog

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


def upscaled_size(body: dict[str, Any], image: CheckedImage) -> tuple[int, int]:
    """The size the upscaler makes of ``image`` (before any crop: it makes the whole)."""
    if body.get("resize_mode") == 1:
        # A1111 scales by the larger ratio, then crops (or not) to the target: the upscaler
        # makes the whole scaled image either way (scripts/postprocessing_upscale.py).
        scale = max(
            body["upscaling_resize_w"] / image.width, body["upscaling_resize_h"] / image.height
        )
    else:
        scale = float(body["upscaling_resize"])
    return int(image.width * scale), int(image.height * scale)


def upscale_payload(params: dict[str, Any], image: CheckedImage) -> dict[str, Any]:
    """The body of /sdapi/v1/extra-single-image, checked against the output pixel limit."""
    body = {k: params[k] for k in UPSCALE_FIELDS if params.get(k) is not None}
    if params.get("upscaling_resize_w") or params.get("upscaling_resize_h"):
        body["resize_mode"] = 1
        target_w = params.get("upscaling_resize_w") or image.width
        target_h = params.get("upscaling_resize_h") or image.height
        body.setdefault("upscaling_resize_w", target_w)
        body.setdefault("upscaling_resize_h", target_h)
    else:
        body["resize_mode"] = 0
        body["upscaling_resize"] = float(params.get("upscaling_resize") or 2)
    width, height = upscaled_size(body, image)
    if width * height > settings.HUB_MAX_OUTPUT_PIXELS:
        raise serializers.ValidationError(
            {"upscaling_resize": [
                f"The upscaler would make a {width}x{height} image ({width * height:,} pixels); at most "
                f"{settings.HUB_MAX_OUTPUT_PIXELS:,}. Lower the scale or the target size."
            ]}
        )  # fmt: skip
    body["show_extras_results"] = True
    body["image"] = image.b64
    return body


def plan_upscale(payload: dict[str, Any], received: dict[str, Any], image: CheckedImage) -> Plan:
    """An upscale job for the one door (admission), which saves and enqueues it."""
    width, height = upscaled_size(payload, image)
    info = {"output_pixels": width * height}
    job = Job(kind=Job.Kind.UPSCALE, request=received, payload=payload, info=info)
    if received.get("job_id"):  # an upscale of a stored picture is its child
        job.parent_job_id, job.parent_image_index = received["job_id"], received.get("index", 0)
    return Plan([job])


class UpscaleRequestSerializer(RoomFields, serializers.Serializer):
    """A1111's ExtrasSingleImageRequest fields (``modules/api/models.py``), with the source
    either uploaded or a stored result."""

    user_id = serializers.CharField(
        max_length=200, required=False, help_text="Whose job it is; default: the source job's."
    )
    image = serializers.CharField(
        required=False, help_text="The picture: a multipart file, or base64 (a data: URI is fine)."
    )
    job_id = serializers.UUIDField(required=False, help_text="Instead of image: a job's result…")
    index = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="…and which of its images (0 = first)."
    )
    upscaler_1 = serializers.CharField(
        max_length=200,
        help_text='From GET /models `upscalers` (not the Latent modes); "None" skips.',
    )
    upscaler_2 = serializers.CharField(max_length=200, required=False)
    extras_upscaler_2_visibility = serializers.FloatField(required=False, min_value=0, max_value=1)
    upscaling_resize = serializers.FloatField(
        required=False, min_value=1, max_value=8, help_text="Scale by (default 2)."
    )
    upscaling_resize_w = serializers.IntegerField(
        required=False, min_value=64, max_value=8192, help_text="Or scale to this width…"
    )
    upscaling_resize_h = serializers.IntegerField(
        required=False, min_value=64, max_value=8192, help_text="…and height."
    )
    upscaling_crop = serializers.BooleanField(
        required=False, help_text="With a target size: crop to fit (A1111's default true)."
    )
    gfpgan_visibility = serializers.FloatField(required=False, min_value=0, max_value=1)
    codeformer_visibility = serializers.FloatField(required=False, min_value=0, max_value=1)
    codeformer_weight = serializers.FloatField(required=False, min_value=0, max_value=1)
    upscale_first = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("job_id")):
            raise serializers.ValidationError("Send either image or job_id (+ index).")
        if attrs.get("image") and not attrs.get("user_id"):
            raise serializers.ValidationError({"user_id": ["Required with an uploaded image."]})
        return attrs


def admit_upscale(
    principal: Any,
    received: dict[str, Any],
    *,
    base_url: str = "",
    idempotency_key: str | None = None,
) -> Admitted:
    """An upscale request (an uploaded image, or a stored result by job_id and index),
    validated and admitted by the one door as a job."""
    body = UpscaleRequestSerializer(data=received)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    if data.get("job_id"):
        image, source = source_image(principal, data["job_id"], data["index"])
        user_id = data.get("user_id") or source.user_id
    else:
        image, user_id = check_image(data["image"], "image"), data["user_id"]
    check_upscalers(data, load_catalog())
    payload = upscale_payload(data, image)
    recorded = {k: (str(v) if k == "job_id" else v) for k, v in data.items() if k != "image"}
    if data.get("image"):
        recorded["image"] = f"<image {image.width}x{image.height}>"
    # Script fields are no upscale fields: read as sent, so the door refuses them.
    fields = {**data, **{k: received[k] for k in SCRIPT_FIELDS if k in received}}
    submission = submission_for(
        principal, fields, received, Job.Kind.UPSCALE, user_id=user_id, base_url=base_url,
        idempotency_key=idempotency_key, takes_scripts=False, needs_context=False,
    )  # fmt: skip
    return submit(submission, lambda _: plan_upscale(payload, recorded, image))


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


register_kind(Job.Kind.UPSCALE, KindSpec(run=run_extras))
