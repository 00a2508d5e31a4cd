"""Images in and out: checking uploads, padding for outpaint, storing results with
thumbnails, compressed copies and batch grids, and live previews.

Everything stored goes through Django's storage API (``STORAGES["default"]``): a folder by
default, S3 or any other Django storage by configuration. Nothing here opens a path.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import time
import warnings
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageFilter

from core.errors import ApiError

THUMBNAIL_SIZE = (256, 256)


class ImageTooLarge(ApiError):
    status_code = 413
    default_code = "image_too_large"


@dataclass
class CheckedImage:
    """An uploaded image that decodes, within the byte and pixel limits."""

    b64: str  # raw base64 of the original bytes, as A1111 wants it (no data: prefix)
    width: int
    height: int
    mode: str

    def open(self) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(self.b64)))


def _bytes_of(value: str | bytes, field: str) -> bytes:
    if isinstance(value, bytes):
        return value
    text = value.strip()
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            f"{field}: not valid base64. Send the image as base64 (optionally a data: URI) "
            "or upload it as a multipart file.",
            code="invalid_image",
        ) from None


def check_image(value: str | bytes, field: str) -> CheckedImage:
    """Decode enough of an upload to trust it; refuse junk and decompression bombs."""
    raw = _bytes_of(value, field)
    if len(raw) > settings.HUB_MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"{field}: {len(raw):,} bytes is over the limit of {settings.HUB_MAX_UPLOAD_BYTES:,}. "
            "Send a smaller or more compressed image."
        )
    max_pixels = settings.HUB_MAX_UPLOAD_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{field}: {width}x{height} is over the limit of {max_pixels:,} pixels. "
                    "Resize it first."
                )
            image.load()  # fails on truncated or corrupt data
    except ImageTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"{field}: the image declares too many pixels; refused.") from None
    except (OSError, ValueError, SyntaxError):
        raise ApiError(
            f"{field}: could not be decoded as an image (PNG, JPEG or WebP expected).",
            code="invalid_image",
        ) from None
    return CheckedImage(
        b64=base64.b64encode(raw).decode(), width=width, height=height, mode=image.mode
    )


def to_b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def outpaint_canvas(
    image: Image.Image, left: int, right: int, up: int, down: int
) -> tuple[Image.Image, Image.Image]:
    """Pad the image and make the inpainting mask (white = to paint) for the new border.

    The border starts as a blurred stretch of the image's own edge, which gives A1111's
    "fill" mode colours to start from instead of flat black.
    """
    image = image.convert("RGB")
    width, height = image.size
    new_size = (width + left + right, height + up + down)
    canvas = image.resize(new_size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(24))
    canvas.paste(image, (left, up))
    mask = Image.new("L", new_size, 255)
    mask.paste(0, (left, up, left + width, up + height))
    return canvas, mask


# --- storage ---------------------------------------------------------------------------
def job_dir(job_id: str) -> str:
    """The storage folder of a job's files (storage names use ``/``, never OS paths)."""
    return f"jobs/{job_id}"


def put(name: str, data: bytes) -> str:
    """Store ``data`` under ``name``, replacing a file of that name; returns the stored
    name (a storage may adjust it)."""
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def read_bytes(name: str) -> bytes:
    """A stored file's bytes; FileNotFoundError when it is gone."""
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise
    except OSError as exc:  # some storages say "gone" in their own words
        if not default_storage.exists(name):
            raise FileNotFoundError(name) from exc
        raise


def open_stored(name: str):
    """A stored file opened for reading (for streaming responses)."""
    return default_storage.open(name, "rb")


def delete_stored(*names: str) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


# --- results ---------------------------------------------------------------------------
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
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


def _thumbnail(image: Image.Image, name: str) -> Variant:
    thumb = image.convert("RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    buffer = io.BytesIO()
    thumb.save(buffer, "WEBP", quality=80)
    data = buffer.getvalue()
    return Variant(put(name, data), len(data), thumb.width, thumb.height)


def store_result_image(job_id: str, index: int, b64: str) -> StoredImage:
    """Store A1111's image as it came (PNG with its infotext), a WebP thumbnail and a
    compressed JPEG under HUB_COMPRESSED_MAX_BYTES."""
    raw = base64.b64decode(b64)
    image = Image.open(io.BytesIO(raw))
    infotext = image.info.get("parameters", "") if isinstance(image.info, dict) else ""
    ext = (image.format or "PNG").lower().replace("jpeg", "jpg")
    folder = job_dir(job_id)
    original = Variant(put(f"{folder}/{index}.{ext}", raw), len(raw), image.width, image.height)
    thumb = _thumbnail(image, f"{folder}/{index}.thumb.webp")
    data, size = compress(image, settings.HUB_COMPRESSED_MAX_BYTES)
    small = Variant(put(f"{folder}/{index}.small.jpg", data), len(data), *size)
    return StoredImage(
        file=original.name,
        thumbnail=thumb.name,
        compressed=small.name,
        width=image.width,
        height=image.height,
        infotext=infotext,
        variants={
            "original": original.as_dict(),
            "thumbnail": thumb.as_dict(),
            "compressed": small.as_dict(),
        },
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


# --- live previews -----------------------------------------------------------------------
# One small WebP per running job, replaced as A1111's live preview changes (never one file
# per step), served by GET /jobs/{id}/preview and removed when the job ends. Each preview
# is a new name (preview-<version>.webp) and the older one is deleted after it, so a reader
# sees the old preview or the new one, never half of one, on any storage.
PREVIEW_PREFIX = "preview-"
PREVIEW_SUFFIX = ".webp"
PREVIEW_MAX_SIDE = 384  # pixels
PREVIEW_MAX_BYTES = 48 * 1024  # what is stored and served
PREVIEW_MAX_INPUT_CHARS = 12 * 1024 * 1024  # base64 from A1111 beyond this is not decoded
PREVIEW_MAX_INPUT_PIXELS = 4096 * 4096


def _preview_versions(job_id: str) -> list[str]:
    try:
        _, files = default_storage.listdir(job_dir(job_id))
    except (FileNotFoundError, NotADirectoryError):
        return []
    versions = []
    for name in files:
        if name.startswith(PREVIEW_PREFIX) and name.endswith(PREVIEW_SUFFIX):
            version = name[len(PREVIEW_PREFIX) : -len(PREVIEW_SUFFIX)]
            if version and all(c in "0123456789abcdef" for c in version):
                versions.append(version)
    return sorted(versions, key=lambda v: int(v, 16))


def preview_name(job_id: str, version: str) -> str:
    return f"{job_dir(job_id)}/{PREVIEW_PREFIX}{version}{PREVIEW_SUFFIX}"


def preview_version(job_id: str) -> str | None:
    """The latest stored preview's version (it changes with each one), or None."""
    versions = _preview_versions(job_id)
    return versions[-1] if versions else None


def store_preview(job_id: str, data: str) -> bool:
    """Store A1111's live preview (a ``data:`` URI or raw base64) small, replacing the last
    one. Returns False, storing nothing, for anything that does not decode."""
    b64 = data.split(",", 1)[1] if data.startswith("data:") else data
    if not b64 or len(b64) > PREVIEW_MAX_INPUT_CHARS:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(base64.b64decode(b64)))
            if image.width * image.height > PREVIEW_MAX_INPUT_PIXELS:
                return False
            image = image.convert("RGB")
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombWarning):
        return False
    image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    encoded = b""
    for quality in (70, 50, 30):
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", quality=quality)
        encoded = buffer.getvalue()
        if len(encoded) <= PREVIEW_MAX_BYTES:
            break
    while len(encoded) > PREVIEW_MAX_BYTES and min(image.size) > 16:
        image = image.resize((image.width // 2, image.height // 2))
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", quality=30)
        encoded = buffer.getvalue()
    older = _preview_versions(job_id)
    version = format(max(time.time_ns(), int(older[-1], 16) + 1 if older else 0), "x")
    put(preview_name(job_id, version), encoded)
    delete_stored(*(preview_name(job_id, v) for v in older))
    return True


def remove_preview(job_id: str) -> None:
    delete_stored(*(preview_name(job_id, v) for v in _preview_versions(job_id)))
