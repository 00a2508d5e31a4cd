"""Communities at the one door: the room a request is made in, what each planned job asks
for (read from the exact A1111 payload, after every default and the session), and the
request fields that name the room."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from rest_framework import serializers

from communities import budgets
from communities.rules import Ask
from generation_app.jobs import signals
from generation_app.models import Job, JobEvent
from genparams.params import hires_size, output_pixels

FEATURE_OF_KIND = {
    Job.Kind.TXT2IMG: "txt2img",
    Job.Kind.IMG2IMG: "img2img",
    Job.Kind.INPAINT: "img2img",
    Job.Kind.OUTPAINT: "img2img",
    Job.Kind.CONTROLNET: "controlnet",
    Job.Kind.REGIONAL: "regional",
    Job.Kind.UPSCALE: "upscale",
}


class RoomFields(serializers.Serializer):
    """Where a request is made, and whether to make it at all (a serializer mixin)."""

    community_id = serializers.CharField(
        required=False,
        max_length=100,
        help_text="The community (a Discord guild id, a tenant id): its policy, budgets and "
        "audit apply. A key bound to a community may leave it out.",
    )
    channel_id = serializers.CharField(
        required=False, max_length=100, help_text="The channel within the community."
    )
    channel_nsfw = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Discord's age-restricted flag of the channel (service keys; a registered "
        "channel's own flag wins).",
    )
    dry_run = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Answer 200 with the cost, the resolved policy and the budget left; "
        "queue nothing.",
    )


ROOM_FIELDS = tuple(RoomFields().fields)


def ask_of(job: Job, scripts: bool) -> Ask:
    """What one planned job asks for."""
    payload = job.payload or {}
    features = {FEATURE_OF_KIND.get(job.kind, job.kind)}
    if job.img2img and job.kind not in (Job.Kind.UPSCALE,):
        features.add("img2img")
    elif job.kind != Job.Kind.UPSCALE:
        features.add("txt2img")
    always_on = payload.get("alwayson_scripts") or {}
    controlnet = [u for u in (always_on.get("controlnet") or {}).get("args") or [] if u]
    if controlnet:
        features.add("controlnet")
    if "Regional Prompter" in always_on:
        features.add("regional")
    if scripts:
        features.add("scripts")
    if job.kind == Job.Kind.UPSCALE:
        pixels = int((job.info or {}).get("output_pixels") or 0)
        return Ask(kind="upscale", pixels=pixels, features=features)
    width, height = int(payload.get("width") or 512), int(payload.get("height") or 512)
    images = int(payload.get("batch_size") or 1) * int(payload.get("n_iter") or 1)
    hires_pixels = 0
    if payload.get("enable_hr"):
        hires_w, hires_h = hires_size(width, height, payload)
        hires_pixels = hires_w * hires_h
    return Ask(
        kind=job.kind,
        prompt=str(payload.get("prompt") or ""),
        negative_prompt=str(payload.get("negative_prompt") or ""),
        steps=int(payload.get("steps") or 0),
        width=width,
        height=height,
        images=images,
        pixels=output_pixels({**payload, "batch_count": payload.get("n_iter")}),
        checkpoint=job.checkpoint or "",
        loras=sorted((job.info or {}).get("requested_loras") or {}),
        features=features,
        hires_pixels=hires_pixels,
        hires_steps=int(payload.get("hr_second_pass_steps") or 0),
        controlnet_units=len(controlnet),
    )


def room_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in ROOM_FIELDS}


@receiver(signals.job_changed, dispatch_uid="generation_app.admission.rooms.refund")
def refund_jobs_that_made_nothing(sender, job_id, event_type: str, **kwargs) -> None:
    """A failed or cancelled job gives its budget units back."""
    if event_type in (JobEvent.Type.FAILED, JobEvent.Type.CANCELLED):
        budgets.refund(str(job_id))
