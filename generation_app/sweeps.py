"""Sweeps: one base request, up to three axes, one job per cell, spread over every free
backend (unlike A1111's X/Y/Z plot, which runs its cells one by one on one GPU), and a
labelled contact sheet when they are done.

The axis rules and the cell expansion are pure; ``create_sweep`` and ``sweep_status``
read and write the database.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont
from rest_framework import serializers

from core.errors import Conflict
from generation_app.models import Job, JobGroup, JobImage
from generation_app.services import JobRequest, build_job, cancel_job, create_group_jobs
from genparams.params import validate_generation_params
from loras_app.selectors import usable_lora

MAX_AXES = 3
PLAIN_AXES = (
    "seed",
    "sampler_name",
    "scheduler",
    "checkpoint",
    "cfg_scale",
    "steps",
    "denoising_strength",
)
LORA_AXIS = "lora:"  # "lora:<filename>": that LoRA's weight
PROMPT_AXIS = "prompt_sr"  # A1111's Prompt S/R: the first value is searched, each replaces it
SHEET_MAX_WIDTH = 1536  # fits a Discord embed; a PNG under its 8 MB attachment limit
THUMB_MAX = 256
LABEL_HEIGHT = 28


@dataclass(frozen=True)
class Axis:
    field: str
    values: list[Any]

    @property
    def label(self) -> str:
        if self.field.startswith(LORA_AXIS):
            return f"{self.field.removeprefix(LORA_AXIS)} weight"
        return "prompt S/R" if self.field == PROMPT_AXIS else self.field


def check_axes(raw: list[dict[str, Any]], base: dict[str, Any]) -> list[Axis]:
    """Axes as sent, checked value by value with the rules a request meets (names against
    the backends' lists, ranges, usable LoRAs). 400 with the axis named otherwise."""
    if not raw or len(raw) > MAX_AXES:
        raise serializers.ValidationError({"axes": [f"Give 1 to {MAX_AXES} axes."]})
    axes, cells = [], 1
    for index, item in enumerate(raw):
        where = f"axes[{index}]"
        field, values = item.get("field"), item.get("values")
        if not isinstance(values, list) or not values:
            raise serializers.ValidationError({where: ["values: give a non-empty list."]})
        if len(set(map(str, values))) != len(values):
            raise serializers.ValidationError({where: ["values: each value once."]})
        axes.append(Axis(field, _check_values(where, field, values, base)))
        cells *= len(values)
    if len({a.field for a in axes}) != len(axes):
        raise serializers.ValidationError({"axes": ["Each field on one axis only."]})
    if cells > settings.HUB_MAX_SWEEP_CELLS:
        raise serializers.ValidationError(
            {"axes": [f"{cells} cells; at most {settings.HUB_MAX_SWEEP_CELLS} per sweep."]}
        )
    return axes


def _check_values(where: str, field: Any, values: list, base: dict[str, Any]) -> list:
    if field in PLAIN_AXES:
        checked = []
        for value in values:
            try:
                checked.append(validate_generation_params({field: value})[field])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({where: exc.detail}) from None
        return checked
    if isinstance(field, str) and field.startswith(LORA_AXIS):
        usable_lora(field.removeprefix(LORA_AXIS))  # 404 with suggestions otherwise
        low, high = settings.LORA_WEIGHT_MIN, settings.LORA_WEIGHT_MAX
        if not all(isinstance(v, int | float) and low <= v <= high for v in values):
            raise serializers.ValidationError({where: [f"LoRA weights from {low} to {high}."]})
        return [float(v) for v in values]
    if field == PROMPT_AXIS:
        if not all(isinstance(v, str) for v in values):
            raise serializers.ValidationError({where: ["Prompt S/R values are text."]})
        if values[0] not in (base.get("prompt") or ""):
            raise serializers.ValidationError(
                {where: [f"The first value, {values[0]!r}, must appear in the prompt."]}
            )
        return values
    known = ", ".join([*PLAIN_AXES, f"{LORA_AXIS}<filename>", PROMPT_AXIS])
    raise serializers.ValidationError({where: [f"Unknown axis {field!r}. Axes: {known}."]})


def cells(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination, x fastest: {field: value} per cell."""
    ordered = list(reversed(axes))  # product() varies its last iterable fastest
    return [
        dict(zip([a.field for a in ordered], combo, strict=True))
        for combo in itertools.product(*(a.values for a in ordered))
    ]


def apply_cell(params: dict[str, Any], cell: dict[str, Any], axes: list[Axis]) -> dict[str, Any]:
    """The base parameters with this cell's values put in."""
    out = dict(params)
    for field, value in cell.items():
        if field.startswith(LORA_AXIS):
            out["loras"] = {**(out.get("loras") or {}), field.removeprefix(LORA_AXIS): value}
        elif field == PROMPT_AXIS:
            search = next(a for a in axes if a.field == PROMPT_AXIS).values[0]
            for key in ("prompt", "negative_prompt"):
                if out.get(key):
                    out[key] = out[key].replace(search, value)
        else:
            out[field] = value
    return out


# --- creating, following, cancelling ----------------------------------------------------
def create_sweep(base: JobRequest, axes: list[Axis], received: dict[str, Any]) -> JobGroup:
    if int(base.params.get("batch_size") or 1) * int(base.params.get("batch_count") or 1) > 1:
        raise serializers.ValidationError(
            {"base": ["A sweep makes one image per cell; leave batch_size and batch_count at 1."]}
        )
    group = JobGroup(
        user_id=base.user_id,
        axes=[{"field": a.field, "values": a.values} for a in axes],
        request=received,
    )
    jobs = [
        build_job(
            replace(base, params=apply_cell(base.params, cell, axes), idempotency_key=None),
            cell=cell,
        )
        for cell in cells(axes)
    ]
    create_group_jobs(group, jobs)
    return group


@dataclass
class SweepStatus:
    group: JobGroup
    status: str
    progress: float
    counts: dict[str, int]
    jobs: list[Job]


def sweep_status(group: JobGroup) -> SweepStatus:
    jobs = list(group.jobs.defer("payload", "request", "info").order_by("created_at", "id"))
    counts = {s: 0 for s in Job.Status.values}
    for job in jobs:
        counts[job.status] += 1
    done = counts[Job.Status.COMPLETED]
    if counts[Job.Status.QUEUED] == len(jobs):
        status = "queued"
    elif counts[Job.Status.QUEUED] or counts[Job.Status.RUNNING]:
        status = "running"
    elif done == len(jobs):
        status = "completed"
    elif done:
        status = "partial"
    elif counts[Job.Status.CANCELLED] == len(jobs):
        status = "cancelled"
    else:
        status = "failed"
    progress = sum(1.0 if j.is_final else j.progress for j in jobs) / max(1, len(jobs))
    return SweepStatus(group, status, round(progress, 3), counts, jobs)


def cancel_sweep(group: JobGroup) -> int:
    """Cancel every cell still queued or running; the finished ones stay."""
    cancelled = 0
    for job in group.jobs.filter(status__in=Job.ACTIVE):
        try:
            cancel_job(job)
            cancelled += 1
        except Conflict:
            pass  # it finished meanwhile
    return cancelled


# --- the contact sheet ----------------------------------------------------------------
def contact_sheet(state: SweepStatus) -> str | None:
    """The sheet's storage name, made once when every cell has ended (None before, or when
    no cell made an image)."""
    group = state.group
    if group.sheet:
        return group.sheet
    if state.status in ("queued", "running") or not state.counts[Job.Status.COMPLETED]:
        return None
    images = {
        i.job_id: i
        for i in JobImage.objects.filter(job__group=group, role=JobImage.Role.IMAGE, index=0)
    }
    axes = [Axis(a["field"], a["values"]) for a in group.axes]
    sheet = render_sheet(axes, [(job.cell, images.get(job.pk)) for job in state.jobs])
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG", optimize=True)
    name = default_storage.save(f"sweeps/{group.pk}/sheet.png", ContentFile(buffer.getvalue()))
    JobGroup.objects.filter(pk=group.pk).update(sheet=name)
    group.sheet = name
    return name


def render_sheet(axes: list[Axis], cells_and_images: list[tuple[dict, JobImage | None]]):
    """x values as column headers, y values as row headers, one block per z value."""
    x = axes[0]
    y = axes[1] if len(axes) > 1 else Axis("", [""])
    z = axes[2] if len(axes) > 2 else Axis("", [""])
    by_cell = {_key(cell): image for cell, image in cells_and_images}
    font = ImageFont.load_default(size=14)
    label_w = 160 if y.field else 0
    thumb = max(48, min(THUMB_MAX, (SHEET_MAX_WIDTH - label_w) // len(x.values)))
    block_h = LABEL_HEIGHT + len(y.values) * thumb
    width = label_w + len(x.values) * thumb
    height = len(z.values) * (block_h + (LABEL_HEIGHT if z.field else 0))
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    top = 0
    for z_value in z.values:
        if z.field:
            draw.text((6, top + 6), f"{z.label}: {z_value}", fill="black", font=font)
            top += LABEL_HEIGHT
        for col, x_value in enumerate(x.values):
            draw.text((label_w + col * thumb + 6, top + 6), _short(x.label, x_value), fill="black", font=font)  # fmt: skip
        for row, y_value in enumerate(y.values):
            y_top = top + LABEL_HEIGHT + row * thumb
            if y.field:
                draw.text((6, y_top + thumb // 2 - 7), _short(y.label, y_value), fill="black", font=font)  # fmt: skip
            for col, x_value in enumerate(x.values):
                cell = {x.field: x_value, **({y.field: y_value} if y.field else {}), **({z.field: z_value} if z.field else {})}  # fmt: skip
                image = by_cell.get(_key(cell))
                box = (label_w + col * thumb, y_top)
                if image is None:
                    draw.rectangle([box, (box[0] + thumb - 1, box[1] + thumb - 1)], fill="#ddd")
                    draw.text((box[0] + 6, box[1] + 6), "no image", fill="black", font=font)
                    continue
                with default_storage.open(image.file, "rb") as f:
                    picture = Image.open(f).convert("RGB")
                    picture.thumbnail((thumb, thumb))
                sheet.paste(picture, box)
        top += block_h
    return sheet


def _key(cell: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in cell.items() if k))


def _short(label: str, value: Any) -> str:
    text = f"{label}: {value}"
    return text if len(text) <= 22 else text[:21] + "…"
