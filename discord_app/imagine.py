"""/imagine, and the buttons under every result: each makes a job through the one door
(policy, budgets, safety and audit apply) and a deferred reply the hub then edits."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from communities.services import ensure_community
from core.errors import ApiError, NotFound
from discord_app.actor import bot_principal, discord_user, hub_user_id, room_fields
from discord_app.messages import DEFERRED, ephemeral
from discord_app.models import DiscordReply
from generation_app.api.generate import admit_generation
from generation_app.extras.source import source_image
from generation_app.extras.upscale import admit_upscale
from generation_app.models import Job
from loras_app.models import Lora
from presets_app.services import save_preset

logger = logging.getLogger(__name__)

PREFIX = "a1h"
TOKEN_LIFETIME = timedelta(minutes=15)
UPDATE_TASK = "discord_app.tasks.update_reply"
# Request fields a new job from a button does not inherit.
NOT_INHERITED = {"seed", "subseed", "subseed_strength", "dry_run", "init_images", "mask"}


def options(interaction: dict[str, Any]) -> dict[str, Any]:
    """The command's options by name (a sub-command's, with its name under ``_sub``)."""
    found: dict[str, Any] = {}
    for option in (interaction.get("data") or {}).get("options") or []:
        if option.get("type") in (1, 2):
            found["_sub"] = option["name"]
            for inner in option.get("options") or []:
                found[inner["name"]] = inner.get("value")
        else:
            found[option["name"]] = option.get("value")
    return found


def imagine(interaction: dict[str, Any]) -> dict[str, Any]:
    opts = options(interaction)
    body: dict[str, Any] = {"user_id": hub_user_id(interaction), "prompt": opts.get("prompt", "")}
    if opts.get("negative"):
        body["negative_prompt"] = opts["negative"]
    if opts.get("checkpoint"):
        body["checkpoint"] = opts["checkpoint"]
    if opts.get("lora"):
        lora = Lora.objects.filter(filename=opts["lora"]).first()
        body["loras"] = {opts["lora"]: lora.preferred_weight if lora else 1.0}
    if opts.get("preset"):
        body["preset_id"] = _int(opts["preset"], "preset")
    if opts.get("size"):
        width, _, height = str(opts["size"]).partition("x")
        body["width"], body["height"] = _int(width, "size"), _int(height, "size")
    for option, field in (("steps", "steps"), ("seed", "seed"), ("count", "batch_size")):
        if opts.get(option) is not None:
            body[field] = opts[option]
    return start_job(interaction, body)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"{name}: {value!r} is not a number.", code="invalid_option") from None


def start_job(interaction: dict[str, Any], body: dict[str, Any], admit=admit_generation) -> dict:
    """Admit the job and answer "deferred": the hub edits the reply from then on. The reply
    row is written with the job, so even a job that ends at once is followed."""
    room = room_fields(interaction)
    if room:
        ensure_community(room["community_id"])
    body = {**body, **room}
    with transaction.atomic():
        admitted = admit(
            bot_principal(),
            body,
            base_url=settings.HUB_PUBLIC_URL,
            idempotency_key=f"discord:{interaction.get('id', '')}",
        )
        if admitted.created:
            reply = DiscordReply.objects.create(
                job=admitted.job,
                application_id=str(interaction.get("application_id", "")),
                token=interaction["token"],
                token_expires_at=timezone.now() + TOKEN_LIFETIME,
                guild_id=str(interaction.get("guild_id") or ""),
                channel_id=str(interaction.get("channel_id") or ""),
                discord_user_id=str(discord_user(interaction).get("id", "")),
                attachment_limit=int(
                    interaction.get("attachment_size_limit") or settings.DISCORD_UPLOAD_LIMIT_BYTES
                ),
            )
            # The queue position at once, rather than Discord's "thinking…" until it starts.
            transaction.on_commit(lambda: enqueue_update(reply.job_id))
    return DEFERRED


# --- buttons -------------------------------------------------------------------------------
def enqueue_update(job_id) -> None:
    from django_q.tasks import async_task

    try:
        async_task(UPDATE_TASK, str(job_id), cluster=settings.HUB_HOUSEKEEPING_QUEUE,
                   task_name=f"discord reply {job_id}", timeout=120)  # fmt: skip
    except Exception:
        logger.exception("Could not queue the Discord reply of job %s", job_id)


def custom_id(action: str, job_id, index: int, owner: str) -> str:
    return f"{PREFIX}:{action}:{job_id}:{index}:{owner}"[:100]


def _parse(interaction: dict[str, Any]) -> tuple[str, Job, int, str]:
    parts = str((interaction.get("data") or {}).get("custom_id", "")).split(":")
    if len(parts) != 5 or parts[0] != PREFIX:
        raise ApiError("This button is not one of the hub's.", code="unknown_button")
    action, job_id, index, owner = parts[1:]
    job = Job.objects.filter(pk=job_id).first() if len(job_id) == 36 else None
    if job is None:
        raise NotFound("That picture's job is gone (deleted or pruned).")
    return action, job, _int(index, "index"), owner


def button(interaction: dict[str, Any]) -> dict[str, Any]:
    action, job, index, owner = _parse(interaction)
    clicker = str(discord_user(interaction).get("id", ""))
    if clicker != owner and not settings.DISCORD_SHARED_BUTTONS:
        return ephemeral(f"That is <@{owner}>'s picture, not yours: run /imagine for your own.")
    if action == "i2i":
        return _img2img_modal(job, index, owner)
    if action == "pre":
        preset, _ = save_preset(
            job.user_id, name=f"from {str(job.pk)[:8]}", overwrite=True, **_preset_content(job)
        )
        return ephemeral(f"Saved as preset **{preset.name}** (load it with /preset load).")
    if action == "up":
        body = {"job_id": str(job.pk), "index": index, "user_id": job.user_id,
                "upscaler_1": settings.DISCORD_UPSCALER, "upscaling_resize": 2}  # fmt: skip
        return start_job(interaction, body, admit=admit_upscale)
    base = _inherited(job)
    if action == "rr":
        return start_job(interaction, {**base, "seed": -1})
    if action == "var":
        image = job.images.filter(index=index).first()
        seed = image.seed if image and image.seed is not None else -1
        variation = {"seed": seed, "subseed": -1, "subseed_strength": settings.DISCORD_VARIATION_STRENGTH,
                     "batch_size": 1}  # fmt: skip
        return start_job(interaction, {**base, **variation})
    raise ApiError(f"Unknown button {action!r}.", code="unknown_button")


def _inherited(job: Job) -> dict[str, Any]:
    """A job's request again (its images from the payload: the request has them elided)."""
    base = {k: v for k, v in (job.request or {}).items() if k not in NOT_INHERITED}
    for field in ("init_images", "mask"):
        if job.payload.get(field):
            base[field] = job.payload[field]
    return base


def _preset_content(job: Job) -> dict[str, Any]:
    request = job.request or {}
    params = {k: request[k] for k in ("prompt", "negative_prompt", "steps", "cfg_scale",
              "width", "height", "sampler_name", "scheduler", "checkpoint") if k in request}  # fmt: skip
    return {"params": params, "loras": dict(request.get("loras") or {})}


def _img2img_modal(job: Job, index: int, owner: str) -> dict[str, Any]:
    prompt = str((job.request or {}).get("prompt") or "")[:1500]
    text = {"type": 4, "custom_id": "prompt", "label": "New prompt", "style": 2,
            "required": True, "max_length": 1500, "value": prompt}  # fmt: skip
    strength = {"type": 4, "custom_id": "denoise", "label": "Denoising strength (0 to 1)",
                "style": 1, "required": False, "max_length": 4, "value": "0.6"}  # fmt: skip
    return {
        "type": 9,
        "data": {
            "custom_id": custom_id("i2i", job.pk, index, owner),
            "title": "Use as img2img",
            "components": [
                {"type": 1, "components": [text]},
                {"type": 1, "components": [strength]},
            ],
        },
    }


def modal_submit(interaction: dict[str, Any]) -> dict[str, Any]:
    """The img2img modal: the picture as the init image, with the new prompt."""
    action, job, index, owner = _parse(interaction)
    if (
        str(discord_user(interaction).get("id", "")) != owner
        and not settings.DISCORD_SHARED_BUTTONS
    ):
        raise ApiError("That picture is not yours.", code="not_yours", status_code=403)
    values = {
        field["custom_id"]: field.get("value")
        for row in (interaction.get("data") or {}).get("components") or []
        for field in row.get("components") or []
    }
    try:
        denoise = float(values.get("denoise") or 0.6)
    except ValueError:
        raise ApiError(
            "Denoising strength must be a number from 0 to 1.", code="invalid_option"
        ) from None
    image, _ = source_image(bot_principal(), job.pk, index)
    body = {**_inherited(job), "prompt": values.get("prompt") or "", "init_images": [image.b64],
            "denoising_strength": denoise, "batch_size": 1}  # fmt: skip
    body.pop("mask", None)
    return start_job(interaction, body)
