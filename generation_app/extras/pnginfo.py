"""PNG info, read by the hub itself with Pillow: A1111's own route only reads ``image.info``
(``modules/api/api.py`` ``pnginfoapi``), so asking a GPU server would add a round trip and
a failure mode for nothing."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from core.errors import ApiError
from generation_app.media.uploads import CheckedImage
from presets_app.infotext import read_infotext

EXIF_IFD, USER_COMMENT = 0x8769, 0x9286


def _user_comment(raw: bytes) -> str:
    """EXIF UserComment as A1111 writes it for JPEG/WebP (``piexif.helper.UserComment``,
    ``encoding="unicode"``: an 8-byte ``UNICODE\\0`` prefix, then UTF-16)."""
    if raw[:8] == b"UNICODE\x00":
        body = raw[8:]
        for codec in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or "\n" in text:
                return text
        return body.decode("utf-16-be", errors="replace")
    return raw[8:].decode("utf-8", errors="replace") if raw[:8] == b"ASCII\x00\x00\x00" else ""


def image_texts(image: CheckedImage) -> tuple[str, dict[str, str]]:
    """(the A1111 infotext, the other text chunks) of an image: PNG ``parameters`` (as
    ``modules/images.py`` ``read_info_from_image``), else the EXIF UserComment."""
    with Image.open(io.BytesIO(base64.b64decode(image.b64))) as opened:
        info = {k: v for k, v in (opened.info or {}).items() if isinstance(v, str)}
        text = info.pop("parameters", "")
        if not text:
            comment = opened.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
            if isinstance(comment, bytes):
                text = _user_comment(comment)
    return text, info


def png_info(image: CheckedImage | None, infotext: str | None) -> dict[str, Any]:
    """The hub request an image (or an infotext) describes, with warnings."""
    other: dict[str, str] = {}
    if image is not None:
        infotext, other = image_texts(image)
        if not infotext:
            raise ApiError(
                "The image carries no generation parameters (no PNG 'parameters' chunk and no "
                "EXIF UserComment); it was not made by A1111, or they were stripped (Discord "
                "keeps PNG chunks, many image hosts and re-encoders do not).",
                code="no_parameters",
            )
    read = read_infotext(infotext or "")
    return {
        "infotext": infotext,
        "kind": read.kind,
        "request": read.request,
        "warnings": read.warnings,
        "unused": read.unused,
        "parameters": read.parameters,
        "postprocessing": other.get("postprocessing"),
    }
