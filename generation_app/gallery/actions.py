"""New jobs from a stored picture: rerun, variations, upscale, remix; and a preset from it.

Each is a request like any other, admitted by the one door (policy, budgets, scripts
checks and idempotency apply), owned by whoever asks, and linked to the picture it came
from (``parent_job_id``, ``parent_image_index``). The REST gallery and the Discord buttons
both call these."""

from __future__ import annotations

from typing import Any

from core.errors import ApiError
from generation_app.admission.service import Admitted
from generation_app.api.generate import admit_generation
from generation_app.extras.source import source_image
from generation_app.extras.upscale import admit_upscale, extras_upscalers
from generation_app.models import Job, JobImage
from genparams.names import load_catalog
from presets_app.services import save_preset

# Request fields a new job does not take from its parent.
NOT_INHERITED = {"seed", "subseed", "subseed_strength", "dry_run", "init_images", "mask"}
PRESET_PARAMS = ("prompt", "negative_prompt", "steps", "cfg_scale", "width", "height",
                 "sampler_name", "scheduler", "checkpoint")  # fmt: skip


def inherited(job: Job) -> dict[str, Any]:
    """The parent's request again; its input images from the payload (the stored request
    has them elided)."""
    base = {k: v for k, v in (job.request or {}).items() if k not in NOT_INHERITED}
    for field in ("init_images", "mask"):
        if job.payload.get(field):
            base[field] = job.payload[field]
    return base


def _admit(principal, image: JobImage, body: dict, **door) -> Admitted:
    if image.job.kind == Job.Kind.UPSCALE:
        raise ApiError(
            "This picture is an upscale: rerun, vary or remix the picture it was made from.",
            code="not_a_generation",
        )
    return admit_generation(principal, body, parent=(image.job_id, image.index), **door)


def rerun(principal, image: JobImage, seed: int = -1, room=None, **door) -> Admitted:
    body = {**inherited(image.job), "seed": seed, **(room or {})}
    return _admit(principal, image, body, **door)


def variations(
    principal, image: JobImage, count: int = 4, strength: float = 0.3, room=None, **door
) -> Admitted:
    """``count`` pictures near this one: its seed, a new subseed each, mixed in at
    ``strength`` (A1111's variation seed and strength)."""
    body = {**inherited(image.job), "seed": image.seed if image.seed is not None else -1,
            "subseed": -1, "subseed_strength": strength, "batch_size": count, "batch_count": 1,
            **(room or {})}  # fmt: skip
    return _admit(principal, image, body, **door)


def remix(
    principal, image: JobImage, prompt: str, denoising_strength: float = 0.6,
    negative_prompt: str | None = None, room=None, **door,
) -> Admitted:  # fmt: skip
    """img2img from this picture with a new prompt."""
    picture, _ = source_image(principal, image.job_id, image.index)
    body = {**inherited(image.job), "prompt": prompt, "init_images": [picture.b64],
            "denoising_strength": denoising_strength, "batch_size": 1, "batch_count": 1,
            **(room or {})}  # fmt: skip
    body.pop("mask", None)
    if negative_prompt is not None:
        body["negative_prompt"] = negative_prompt
    return admit_generation(principal, body, parent=(image.job_id, image.index), **door)


def upscale(
    principal, image: JobImage, scale: float = 2, upscaler: str | None = None, room=None, **door
) -> Admitted:
    body = {"job_id": str(image.job_id), "index": image.index, "user_id": image.job.user_id,
            "upscaler_1": upscaler or default_upscaler(), "upscaling_resize": scale,
            **(room or {})}  # fmt: skip
    return admit_upscale(principal, body, **door)


def default_upscaler() -> str:
    names = [n for n in extras_upscalers(load_catalog()) or [] if n != "None"]
    return names[0] if names else "Lanczos"


def as_preset(image: JobImage, name: str):
    """The picture's request as a preset of its owner (replacing one of that name)."""
    request = image.job.request or {}
    params = {k: request[k] for k in PRESET_PARAMS if k in request}
    if image.seed is not None:
        params["seed"] = image.seed
    preset, _ = save_preset(
        image.job.user_id, name=name, overwrite=True, params=params,
        loras=dict(request.get("loras") or {}),
    )  # fmt: skip
    return preset
