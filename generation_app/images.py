"""Images in and out: checking uploads, padding for outpaint, storing results with thumbnails."""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
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


# --- results ---------------------------------------------------------------------------
@dataclass
class StoredImage:
    file: str
    thumbnail: str
    width: int
    height: int
    infotext: str


def job_dir(job_id: str) -> Path:
    return Path("jobs") / str(job_id)


def store_result_image(job_id: str, index: int, b64: str) -> StoredImage:
    """Write A1111's image as it came (PNG with its infotext) and a WebP thumbnail."""
    raw = base64.b64decode(b64)
    image = Image.open(io.BytesIO(raw))
    infotext = image.info.get("parameters", "") if isinstance(image.info, dict) else ""
    ext = (image.format or "PNG").lower().replace("jpeg", "jpg")
    relative = job_dir(job_id) / f"{index}.{ext}"
    thumb_relative = job_dir(job_id) / f"{index}.thumb.webp"
    root = Path(settings.MEDIA_ROOT)
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_bytes(raw)
    thumb = image.convert("RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb.save(root / thumb_relative, "WEBP", quality=80)
    return StoredImage(
        file=str(relative),
        thumbnail=str(thumb_relative),
        width=image.width,
        height=image.height,
        infotext=infotext,
    )


# --- live previews -----------------------------------------------------------------------
# One small WebP per running job, replaced as A1111's live preview changes (never one file
# per step), served by GET /jobs/{id}/preview and removed when the job ends.
PREVIEW_NAME = "preview.webp"
PREVIEW_MAX_SIDE = 384  # pixels
PREVIEW_MAX_BYTES = 48 * 1024  # what is stored and served
PREVIEW_MAX_INPUT_CHARS = 12 * 1024 * 1024  # base64 from A1111 beyond this is not decoded
PREVIEW_MAX_INPUT_PIXELS = 4096 * 4096


def preview_path(job_id: str) -> Path:
    return Path(settings.MEDIA_ROOT) / job_dir(job_id) / PREVIEW_NAME


def preview_version(job_id: str) -> str | None:
    """A token that changes with each stored preview (its mtime), or None without one."""
    try:
        return format(preview_path(job_id).stat().st_mtime_ns, "x")
    except OSError:
        return None


def store_preview(job_id: str, data: str) -> bool:
    """Store A1111's live preview (a ``data:`` URI or raw base64) small, replacing the last
    one atomically. Returns False, storing nothing, for anything that does not decode."""
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
    path = preview_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(encoded)
    partial.replace(path)  # readers see the old preview or the new one, never half of one
    return True


def remove_preview(job_id: str) -> None:
    preview_path(job_id).unlink(missing_ok=True)
