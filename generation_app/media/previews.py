"""Live previews of a running job: A1111's progress image, shrunk and stored under a new
name each time it changes (a link names one version), removed when the job ends."""

from __future__ import annotations

import base64
import binascii
import io
import time
import warnings

from django.core.files.storage import default_storage
from PIL import Image

from generation_app.media.storage import delete_stored, job_dir, put, read_bytes

# --- live previews -----------------------------------------------------------------------
# One small WebP per running job, replaced as A1111's live preview changes (never one file
# per step), served by GET /jobs/{id}/preview and removed when the job ends. Each preview
# is a new name (preview-<version>.webp) and the older one is deleted after it; a storage
# may list a file before it is fully written, so a reader takes the newest *whole* one
# (read_preview: a WebP says its own length), never half of one.
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


def read_preview(job_id: str) -> bytes | None:
    """The newest preview that is whole (not one still being written), or None."""
    for version in reversed(_preview_versions(job_id)):
        try:
            data = read_bytes(preview_name(job_id, version))
        except FileNotFoundError:  # replaced meanwhile: an older one, or none
            continue
        # RIFF: "RIFF", then the length of what follows (little-endian), then "WEBP".
        if data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 == len(data):
            return data
    return None


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
