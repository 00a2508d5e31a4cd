"""The brief's "simplified interface": a user's LoRA stack, defaults, presets, queue and
session, on the same per-user session and presets a mobile app sees over REST."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.errors import ApiError
from discord_app.actor import hub_user_id
from discord_app.imagine import options
from discord_app.messages import ephemeral
from generation_app.delivery.documents import job_body
from generation_app.jobs.cancel import cancel_job
from generation_app.media.links import image_url
from generation_app.models import Job, JobImage
from presets_app import services as presets
from sessions_app import services as sessions


def _stack(state: dict[str, Any]) -> str:
    loras = state["active_loras"]
    if not loras:
        return "No LoRAs in your stack."
    return "Your LoRAs: " + ", ".join(f"`{name}` ({weight:g})" for name, weight in loras.items())


def lora(interaction: dict[str, Any]) -> dict[str, Any]:
    user, opts = hub_user_id(interaction), options(interaction)
    sub = opts.get("_sub")
    if sub == "add":
        state = sessions.add_lora(user, opts.get("name", ""), opts.get("weight"))
    elif sub == "remove":
        state = sessions.remove_lora(user, opts.get("name", ""))
    elif sub == "clear":
        state = sessions.clear_loras(user)
    else:
        state = sessions.session_state(user)
    return ephemeral(_stack(state))


def settings_command(interaction: dict[str, Any]) -> dict[str, Any]:
    user, opts = hub_user_id(interaction), options(interaction)
    changes: dict[str, Any] = {}
    if opts.get("steps") is not None:
        changes["steps"] = opts["steps"]
    if opts.get("cfg") is not None:
        changes["cfg_scale"] = opts["cfg"]
    if opts.get("sampler"):
        changes["sampler_name"] = opts["sampler"]
    if opts.get("size"):
        width, _, height = str(opts["size"]).partition("x")
        changes["width"], changes["height"] = int(width), int(height)
    state = sessions.update_settings(user, changes) if changes else sessions.session_state(user)
    saved = ", ".join(f"{k} {v}" for k, v in state["custom_settings"].items()) or "none"
    return ephemeral(f"Your defaults: {saved}.")


def preset(interaction: dict[str, Any]) -> dict[str, Any]:
    user, opts = hub_user_id(interaction), options(interaction)
    sub = opts.get("_sub")
    if sub == "save":
        saved, _ = presets.save_preset(user, name=opts.get("name", ""), from_session=True)
        return ephemeral(f"Saved your session as preset **{saved.name}**.")
    if sub == "load":
        presets.apply_preset(user, _preset_id(opts.get("name")))
        return ephemeral("Loaded into your session: " + _stack(sessions.session_state(user)))
    if sub == "share":
        shared = presets.update_preset(user, _preset_id(opts.get("name")), visibility="shared")
        return ephemeral(f"**{shared.name}** is shared: its code is `{shared.share_code}`.")
    names = [f"`{p.name}` (#{p.pk})" for p in presets.user_presets(user)[:25]]
    return ephemeral("Your presets: " + (", ".join(names) or "none yet (/preset save)."))


def _preset_id(value: Any) -> int:
    """Autocomplete sends a preset's id; a name typed without choosing one is not."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(
            f"Pick one of your presets from the list (not {value!r}): /preset list shows them.",
            code="invalid_option",
        ) from None


def queue(interaction: dict[str, Any]) -> dict[str, Any]:
    """Active jobs with position and ETA, and the latest results as signed links."""
    user = hub_user_id(interaction)
    lines = []
    for job in Job.objects.filter(user_id=user, status__in=Job.ACTIVE).order_by("created_at")[:10]:
        body = job_body(job)
        where = (
            f"position {body.get('queue_position')}"
            if job.status == Job.Status.QUEUED
            else f"{round(job.progress * 100)} %"
        )
        eta = f", about {round(body['eta_seconds'])} s" if body.get("eta_seconds") else ""
        lines.append(f"⏳ {job.kind} `{str(job.pk)[:8]}`: {job.status}, {where}{eta}")
    recent = JobImage.objects.filter(
        job__user_id=user, job__status=Job.Status.COMPLETED, role=JobImage.Role.IMAGE
    ).order_by("-job__finished_at", "index")[:5]
    for image in recent:
        link = image_url(None, image.compressed or image.file)
        lines.append(f"🖼️ `{str(image.job_id)[:8]}` #{image.index}: {link}")
    return ephemeral("\n".join(lines) or "Nothing queued, nothing made yet: try /imagine.")


def cancel(interaction: dict[str, Any]) -> dict[str, Any]:
    user = hub_user_id(interaction)
    job = Job.objects.filter(user_id=user, status__in=Job.ACTIVE).order_by("-created_at").first()
    if job is None:
        return ephemeral("You have no queued or running job.")
    cancel_job(job)
    return ephemeral(f"Cancelled `{str(job.pk)[:8]}` ({job.kind}).")


def session(interaction: dict[str, Any]) -> dict[str, Any]:
    state = sessions.session_state(hub_user_id(interaction))
    saved = ", ".join(f"{k} {v}" for k, v in state["custom_settings"].items()) or "none"
    return ephemeral(
        f"{_stack(state)}\nYour defaults: {saved}.\nHub: {settings.HUB_PUBLIC_URL or '-'}"
    )
