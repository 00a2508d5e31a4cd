"""Images in and out: checking uploads, padding for outpaint, storing results with
thumbnails, compressed copies and batch grids, and live previews.

Everything stored goes through Django's storage API (``STORAGES["default"]``): a folder by
default, S3 or any other Django storage by configuration. Nothing here opens a path.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from PIL import Image

from generation_app.media.storage import (
    CONTENT_TYPES,
    delete_stored,
    job_dir,
    put,
    put_new,
    read_bytes,
    stored_size,
)
from generation_app.models import Job, JobImage

THUMBNAIL_SIZE = (256, 256)


COMPRESSED_QUALITIES = (90, 82, 72, 60, 45)


GRID_MAX_SIDE = 4096  # pixels: a grid of 16 1024² images is shown at half size


@dataclass
class Variant:
    name: str  # storage name
    bytes: int
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.name.rsplit(".", 1)[-1], "application/octet-stream")

    def as_dict(self) -> dict:
        return {
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "content_type": self.content_type,
        }


@dataclass
class StoredImage:
    file: str
    thumbnail: str
    width: int
    height: int
    infotext: str
    compressed: str = ""
    variants: dict[str, dict] = field(default_factory=dict)  # original/thumbnail/compressed

    @property
    def bytes(self) -> int:
        return sum(v["bytes"] for v in self.variants.values())


def compress(image: Image.Image, max_bytes: int) -> tuple[bytes, tuple[int, int]]:
    """A JPEG of ``image`` of at most ``max_bytes``: lower quality first, then smaller.

    JPEG because every client shows it (Discord embeds, old phones, mail); A1111's images
    have no transparency worth keeping (an alpha channel is laid on white)."""
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    else:
        image = image.convert("RGB")
    while True:
        for quality in COMPRESSED_QUALITIES:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), image.size
        if min(image.size) <= 16:
            return buffer.getvalue(), image.size
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)),
            Image.Resampling.LANCZOS,
        )


def _thumbnail(image: Image.Image, name: str, store: Callable[[str, bytes], str] = put) -> Variant:
    thumb = image.convert("RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    buffer = io.BytesIO()
    thumb.save(buffer, "WEBP", quality=80)
    data = buffer.getvalue()
    return Variant(store(name, data), len(data), thumb.width, thumb.height)


def store_result_image(job_id: str, index: int, b64: str) -> StoredImage:
    """Store A1111's image as it came (PNG with its infotext). Its WebP thumbnail and
    compressed JPEG are named now and made on first request (:func:`ensure_variant`):
    decoding and encoding them was most of what a job cost the hub, and most results are
    fetched as the original only."""
    raw = base64.b64decode(b64)
    image = Image.open(io.BytesIO(raw))  # the header and text chunks; pixels stay encoded
    infotext = image.info.get("parameters", "") if isinstance(image.info, dict) else ""
    ext = (image.format or "PNG").lower().replace("jpeg", "jpg")
    folder = job_dir(job_id)
    original = Variant(put(f"{folder}/{index}.{ext}", raw), len(raw), image.width, image.height)
    return StoredImage(
        file=original.name,
        thumbnail=f"{folder}/{index}.thumb.webp",
        compressed=f"{folder}/{index}.small.jpg",
        width=image.width,
        height=image.height,
        infotext=infotext,
        variants={"original": original.as_dict()},
    )


def ensure_variant(image: JobImage, name: str) -> None:
    """Make ``name``, the thumbnail or compressed copy of ``image``, if it is not made yet
    (its size is then in ``variants`` and counted in the image's bytes). Anything else,
    or a variant already made, is left alone."""
    kind = {image.thumbnail: "thumbnail", image.compressed: "compressed"}.get(name)
    known = image.variants or {}
    # Rows stored before sizes were recorded (no "original") had every copy made then.
    if not name or kind is None or kind in known or "original" not in known:
        return
    source = Image.open(io.BytesIO(read_bytes(image.file)))
    source.load()
    # Stored without replacing: two first requests may make it at once, and the one that
    # comes second must not delete the file the first is already serving.
    if kind == "thumbnail":
        made = _thumbnail(source, name, store=put_new)
    else:
        data, size = compress(source, settings.HUB_COMPRESSED_MAX_BYTES)
        made = Variant(put_new(name, data), len(data), *size)
    if made.name != name:  # made at the same moment by another request: keep that one
        delete_stored(made.name)
        made = Variant(name, stored_size(name), made.width, made.height)
    with transaction.atomic():
        row = JobImage.objects.select_for_update().filter(pk=image.pk).first()
        if row is None or kind in (row.variants or {}):
            return
        row.variants = {**(row.variants or {}), kind: made.as_dict()}
        JobImage.objects.filter(pk=row.pk).update(
            variants=row.variants, bytes=F("bytes") + made.bytes
        )
    image.variants = row.variants


def image_row(
    job: Job, index: int, role: str, stored: StoredImage, seed, infotext: str, screened=None
) -> JobImage:
    """The row of a stored result image (unsaved), with what the gallery shows of it;
    ``screened`` is the safety verdict (media.safety.Screened) of a generated image."""
    return JobImage(
        job=job,
        index=index,
        role=role,
        file=stored.file,
        thumbnail=stored.thumbnail,
        compressed=stored.compressed,
        bytes=stored.bytes + (screened.withheld_bytes if screened else 0),
        variants=stored.variants,
        seed=seed,
        width=stored.width,
        height=stored.height,
        infotext=infotext,
        safety=screened.safety if screened else {},
        withheld=screened.withheld if screened else "",
        user_id=job.user_id,
        prompt=str((job.payload or {}).get("prompt") or ""),
    )


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` images: as square as possible with the fewest empty
    cells, never taller than wide (2 -> 1x2, 3 -> 2x2, 4 -> 2x2, 6 -> 2x3, 9 -> 3x3)."""
    best = None
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        if rows > columns:
            continue
        empty = rows * columns - count
        score = (empty + (columns - rows), empty)
        if best is None or score < best[0]:
            best = (score, (rows, columns))
    return best[1] if best else (1, 1)


def store_grid(job_id: str, names: list[str]) -> StoredImage | None:
    """One image of the whole batch (at least two images), rows x columns by
    :func:`grid_shape`, stored as a JPEG under HUB_COMPRESSED_MAX_BYTES: one attachment a
    Discord bot can post. None for fewer than two images."""
    if len(names) < 2:
        return None
    tiles = []
    for name in names:
        tile = Image.open(io.BytesIO(read_bytes(name)))
        tile.load()
        tiles.append(tile.convert("RGB"))
    rows, columns = grid_shape(len(tiles))
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    scale = min(1.0, GRID_MAX_SIDE / (cell_w * columns), GRID_MAX_SIDE / (cell_h * rows))
    if scale < 1.0:
        cell_w, cell_h = max(1, int(cell_w * scale)), max(1, int(cell_h * scale))
    grid = Image.new("RGB", (cell_w * columns, cell_h * rows), "black")
    for n, tile in enumerate(tiles):
        if scale < 1.0:
            tile = tile.resize(
                (max(1, int(tile.width * scale)), max(1, int(tile.height * scale))),
                Image.Resampling.LANCZOS,
            )
        row, column = divmod(n, columns)
        x = column * cell_w + (cell_w - tile.width) // 2
        y = row * cell_h + (cell_h - tile.height) // 2
        grid.paste(tile, (x, y))
    folder = job_dir(job_id)
    data, size = compress(grid, settings.HUB_COMPRESSED_MAX_BYTES)
    stored = Variant(put(f"{folder}/grid.jpg", data), len(data), *size)
    thumb = _thumbnail(grid, f"{folder}/grid.thumb.webp")
    return StoredImage(
        file=stored.name,
        thumbnail=thumb.name,
        width=size[0],
        height=size[1],
        infotext=f"Grid of {len(tiles)} images, {rows} x {columns}",
        variants={"original": stored.as_dict(), "thumbnail": thumb.as_dict()},
    )


logger = logging.getLogger(__name__)


def grid_row(job: Job, rows: list[JobImage]) -> JobImage | None:
    """The grid of a batch of two or more generated images, as a JobImage row (role grid,
    after the last index); None for one image. A grid that cannot be made is logged and
    left out: the images themselves are what the job owes."""
    generated = [row for row in rows if row.role == JobImage.Role.IMAGE]
    try:
        stored = store_grid(str(job.pk), [row.file for row in generated])
    except Exception:
        logger.exception("Job %s: could not make the grid of its batch", job.pk)
        return None
    if stored is None:
        return None
    return JobImage(
        job=job,
        index=max((row.index for row in rows), default=-1) + 1,
        role=JobImage.Role.GRID,
        file=stored.file,
        thumbnail=stored.thumbnail,
        bytes=stored.bytes,
        variants=stored.variants,
        width=stored.width,
        height=stored.height,
        infotext=stored.infotext,
    )
