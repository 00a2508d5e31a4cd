"""A sweep's contact sheet: every cell's first image, axis values as row and column
headers, sized for a Discord attachment."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from generation_app.models import Job, JobGroup, JobImage
from generation_app.sweeps.axes import Axis
from generation_app.sweeps.service import SweepStatus

SHEET_MAX_WIDTH = 1536  # fits a Discord embed; a PNG under its 8 MB attachment limit


THUMB_MAX = 256


LABEL_HEIGHT = 28


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
    JobGroup.objects.filter(pk=group.pk).update(sheet=name, sheet_bytes=len(buffer.getvalue()))
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
