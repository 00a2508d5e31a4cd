"""/imagine, and the buttons under every result: each makes a job through the one door
(policy, budgets, safety and audit apply) and a deferred reply the hub then edits."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from generation_app.admission.service import Admitted
from generation_app.api.generate import admit_generation
from generation_app.gallery import actions
from generation_app.models import JobImage
from loras_app.models import Lora

logger = logging.getLogger(__name__)

PREFIX = "a1h"
TOKEN_LIFETIME = timedelta(minutes=15)
UPDATE_TASK = "discord_app.tasks.update_reply"


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
    return start_job(
        interaction,
        lambda principal, room, door: admit_generation(principal, {**body, **room}, **door),
    )


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"{name}: {value!r} is not a number.", code="invalid_option") from None


def start_job(interaction: dict[str, Any], make: Callable[..., Admitted]) -> dict:
    """Admit a job (``make(principal, room, door)`` calls the one door) and answer
    "deferred": the hub edits the reply from then on. The reply row is written with the
    job, so even a job that ends at once is followed."""
    room = room_fields(interaction)
    if room:
        ensure_community(room["community_id"])
    door = {"base_url": settings.HUB_PUBLIC_URL,
            "idempotency_key": f"discord:{interaction.get('id', '')}"}  # fmt: skip
    with transaction.atomic():
        admitted = make(bot_principal(), room, door)
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


def enqueue_update(job_id) -> None:
    from django_q.tasks import async_task

    try:
        async_task(UPDATE_TASK, str(job_id), cluster=settings.HUB_HOUSEKEEPING_QUEUE,
                   task_name=f"discord reply {job_id}", timeout=120)  # fmt: skip
    except Exception:
        logger.exception("Could not queue the Discord reply of job %s", job_id)


def custom_id(action: str, job_id, index: int, owner: str) -> str:
    return f"{PREFIX}:{action}:{job_id}:{index}:{owner}"[:100]


def _parse(interaction: dict[str, Any]) -> tuple[str, JobImage, str]:
    parts = str((interaction.get("data") or {}).get("custom_id", "")).split(":")
    if len(parts) != 5 or parts[0] != PREFIX:
        raise ApiError("This button is not one of the hub's.", code="unknown_button")
    action, job_id, index, owner = parts[1:]
    image = None
    if len(job_id) == 36:
        image = (
            JobImage.objects.select_related("job")
            .filter(job_id=job_id, index=_int(index, "index"), role=JobImage.Role.IMAGE)
            .first()
        )
    if image is None:
        raise NotFound("That picture is gone (deleted or pruned).")
    return action, image, owner


def _clicked_by_owner(interaction: dict[str, Any], owner: str) -> bool:
    clicker = str(discord_user(interaction).get("id", ""))
    return clicker == owner or settings.DISCORD_SHARED_BUTTONS


def button(interaction: dict[str, Any]) -> dict[str, Any]:
    """A button under a result: a new job made from that picture (gallery.actions)."""
    action, image, owner = _parse(interaction)
    if not _clicked_by_owner(interaction, owner):
        return ephemeral(f"That is <@{owner}>'s picture, not yours: run /imagine for your own.")
    if action == "i2i":
        return _img2img_modal(image, owner)
    if action == "pre":
        preset = actions.as_preset(image, f"from {str(image.job_id)[:8]}")
        return ephemeral(f"Saved as preset **{preset.name}** (load it with /preset load).")
    makers = {
        "rr": lambda p, room, door: actions.rerun(p, image, -1, room=room, **door),
        "var": lambda p, room, door: actions.variations(
            p, image, 1, settings.DISCORD_VARIATION_STRENGTH, room=room, **door
        ),
        "up": lambda p, room, door: actions.upscale(
            p, image, 2, settings.DISCORD_UPSCALER, room=room, **door
        ),
    }
    if action not in makers:
        raise ApiError(f"Unknown button {action!r}.", code="unknown_button")
    return start_job(interaction, makers[action])


def _img2img_modal(image: JobImage, owner: str) -> dict[str, Any]:
    prompt = str((image.job.request or {}).get("prompt") or "")[:1500]
    text = {"type": 4, "custom_id": "prompt", "label": "New prompt", "style": 2,
            "required": True, "max_length": 1500, "value": prompt}  # fmt: skip
    strength = {"type": 4, "custom_id": "denoise", "label": "Denoising strength (0 to 1)",
                "style": 1, "required": False, "max_length": 4, "value": "0.6"}  # fmt: skip
    return {
        "type": 9,
        "data": {
            "custom_id": custom_id("i2i", image.job_id, image.index, owner),
            "title": "Use as img2img",
            "components": [
                {"type": 1, "components": [text]},
                {"type": 1, "components": [strength]},
            ],
        },
    }


def modal_submit(interaction: dict[str, Any]) -> dict[str, Any]:
    """The img2img form: the picture as the init image, with the new prompt."""
    _, image, owner = _parse(interaction)
    if not _clicked_by_owner(interaction, owner):
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
    prompt = values.get("prompt") or ""
    return start_job(
        interaction,
        lambda p, room, door: actions.remix(p, image, prompt, denoise, room=room, **door),
    )
