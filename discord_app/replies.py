"""A Discord reply follows its job: edited with the queue position and progress (at most
every DISCORD_EDIT_SECONDS), then with the picture(s), an embed of the settings and the
buttons. The edits run on the housekeeping queue, never in a generation worker.

Interaction tokens last 15 minutes. A job still queued near the end is told so ("run
/queue later"); a result that comes after it goes to the channel with the bot token, when
one is configured.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone

from discord_app.client import DiscordError, TokenExpired, discord
from discord_app.imagine import custom_id, enqueue_update
from discord_app.models import DiscordReply
from generation_app.delivery.documents import job_body
from generation_app.jobs import signals
from generation_app.media.previews import preview_name, preview_version
from generation_app.media.storage import read_bytes
from generation_app.media.variants import ensure_variant
from generation_app.models import Job, JobEvent, JobImage

logger = logging.getLogger(__name__)

EXPIRY_MARGIN = timedelta(minutes=2)


@receiver(signals.job_changed, dispatch_uid="discord_app.replies")
def on_job_changed(sender, job_id, event_type: str, **kwargs) -> None:
    if not settings.DISCORD_PUBLIC_KEY:  # no interactions, so no reply to keep up to date
        return
    reply = DiscordReply.objects.filter(job_id=job_id, finished=False).only("last_edit_at").first()
    if reply is None:
        return
    if event_type == JobEvent.Type.PROGRESS and reply.last_edit_at is not None:
        since = (timezone.now() - reply.last_edit_at).total_seconds()
        if since < settings.DISCORD_EDIT_SECONDS:
            return
    enqueue_update(job_id)


def update_reply(job_id: str) -> str:
    """Bring the reply up to date with its job; returns what was done (for the task log)."""
    reply = DiscordReply.objects.select_related("job").filter(job_id=job_id).first()
    if reply is None or reply.finished:
        return "nothing to do"
    job = reply.job
    if job.is_final:
        return _finish(reply, job)
    now = timezone.now()
    if now >= reply.token_expires_at - EXPIRY_MARGIN:
        if reply.warned_of_expiry or settings.DISCORD_BOT_TOKEN:
            return "waiting for the result (the channel gets it)"
        text = (f"⏳ Still {job.status}. Discord lets me update this message for 15 minutes "
                "only: run /queue later to get your picture.")  # fmt: skip
        _edit(reply, {"content": text})
        DiscordReply.objects.filter(pk=reply.pk).update(warned_of_expiry=True)
        return "warned of expiry"
    text = progress_text(job)
    if text == reply.last_text:
        return "no change"
    preview = _preview(job)
    if preview is None:
        _edit(reply, {"content": text})
    else:  # the live preview, replacing the last one
        message = {"content": text, "attachments": [{"id": 0, "filename": "preview.webp"}]}
        _edit(reply, message, [("preview.webp", preview, "image/webp")])
    return "progress"


def _preview(job: Job) -> bytes | None:
    """The running job's latest live preview, if it has one (never for a job whose picture
    would be withheld or blurred: the runner stores none)."""
    if job.status != Job.Status.RUNNING:
        return None
    version = preview_version(str(job.pk))
    if version is None:
        return None
    try:
        return read_bytes(preview_name(str(job.pk), version))
    except FileNotFoundError:
        return None


def progress_text(job: Job) -> str:
    body = job_body(job)
    if job.status == Job.Status.QUEUED:
        eta = f", about {round(body['eta_seconds'])} s" if body.get("eta_seconds") else ""
        return f"⏳ Queued: position {body.get('queue_position') or '?'}{eta}."
    percent = round((job.progress or 0) * 100)
    return f"🎨 {percent} % (step {job.step} of {job.total_steps or '?'})."


def _edit(reply: DiscordReply, message: dict, files=None) -> None:
    discord().edit_original(reply.token, message, files)
    DiscordReply.objects.filter(pk=reply.pk).update(
        edits=reply.edits + 1, last_edit_at=timezone.now(), last_text=message.get("content", "")
    )
    reply.edits += 1


def _finish(reply: DiscordReply, job: Job) -> str:
    message, files = final_message(job, reply)
    try:
        _edit(reply, message, files)
        outcome = "result posted"
    except TokenExpired:
        if not (settings.DISCORD_BOT_TOKEN and reply.channel_id):
            logger.warning("The Discord token of job %s expired; no bot token to post with", job.pk)
            outcome = "token expired, no bot token"
        else:
            message["content"] = f"<@{reply.discord_user_id}> {message['content']}"[:2000]
            message["allowed_mentions"] = {"users": [reply.discord_user_id]}
            discord().post_message(reply.channel_id, message, files)
            outcome = "posted to the channel (token expired)"
    except DiscordError as exc:
        logger.error("Discord refused the result of job %s: %s", job.pk, exc)
        outcome = f"refused: {exc.status}"
    DiscordReply.objects.filter(pk=reply.pk).update(finished=True)
    return outcome


def final_message(job: Job, reply: DiscordReply) -> tuple[dict[str, Any], list]:
    """The last edit: the pictures under the upload limit, a settings embed, the buttons."""
    if job.status != Job.Status.COMPLETED:
        return {
            "content": f"❌ {job.status.capitalize()}: {job.message}"[:2000],
            "components": [],
        }, []
    images = list(job.images.filter(role=JobImage.Role.IMAGE).order_by("index"))
    files, used, left_out = [], 0, 0
    for image in images[:10]:
        name = image.compressed or image.file
        try:
            ensure_variant(image, name)
            data = read_bytes(name)
        except FileNotFoundError:
            left_out += 1
            continue
        if used + len(data) > reply.attachment_limit:
            left_out += 1
            continue
        used += len(data)
        filename = f"{str(job.pk)[:8]}_{image.index}.{name.rsplit('.', 1)[-1]}"
        if (image.safety or {}).get("action") == "spoiler":
            filename = f"SPOILER_{filename}"
        files.append((filename, data, "image/jpeg" if filename.endswith(".jpg") else "image/png"))
    prompt = str((job.request or {}).get("prompt") or job.payload.get("prompt") or "")
    content = f"✅ **{_clip(prompt, 300)}** — <@{reply.discord_user_id}>"
    if any((i.safety or {}).get("action") == "block" for i in images):
        content += "\n(a picture was withheld by this server's content policy)"
    if left_out:
        content += (
            f"\n({left_out} picture(s) over this server's upload limit: run /queue for links)"
        )
    message = {
        "content": content[:2000],
        "embeds": [_settings_embed(job, images)],
        "components": buttons(job, images, reply.discord_user_id),
        "attachments": [{"id": i, "filename": f[0]} for i, f in enumerate(files)],
        "allowed_mentions": {"parse": []},
    }
    return message, files


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _settings_embed(job: Job, images: list[JobImage]) -> dict[str, Any]:
    payload = job.payload or {}
    fields = [
        ("Steps", payload.get("steps")),
        ("Sampler", payload.get("sampler_name")),
        ("CFG", payload.get("cfg_scale")),
        (
            "Size",
            f"{payload.get('width')}x{payload.get('height')}" if payload.get("width") else None,
        ),
        ("Seeds", ", ".join(str(i.seed) for i in images if i.seed is not None) or None),
        ("Model", (payload.get("override_settings") or {}).get("sd_model_checkpoint")),
    ]
    return {
        "title": _clip(f"{job.kind} {str(job.pk)[:8]}", 256),
        "fields": [
            {"name": k, "value": _clip(str(v), 1024), "inline": True} for k, v in fields if v
        ],
    }


def buttons(job: Job, images: list[JobImage], owner: str) -> list[dict[str, Any]]:
    """Reroll, Variations, Use as img2img, Save preset; Upscale ×2 per picture."""
    if job.kind == Job.Kind.UPSCALE or not images:
        return []

    def button(label: str, action: str, index: int = 0, style: int = 2) -> dict[str, Any]:
        return {"type": 2, "style": style, "label": label,
                "custom_id": custom_id(action, job.pk, index, owner)}  # fmt: skip

    rows = [{"type": 1, "components": [
        button("Reroll", "rr", style=1), button("Variations", "var"),
        button("Use as img2img", "i2i"), button("Save preset", "pre"),
    ]}]  # fmt: skip
    upscales = [button(f"Upscale ×2 #{i.index + 1}", "up", i.index) for i in images[:5]]
    rows.append({"type": 1, "components": upscales})
    return rows
