"""Images a request brings: decoded and bounded before anything else sees them, and the
padded canvas and mask of an outpaint."""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageFilter

from core.errors import ApiError


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
