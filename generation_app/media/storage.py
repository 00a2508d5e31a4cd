"""Stored files through Django's storage API (``STORAGES["default"]``): a folder by default,
S3 or any other Django storage by configuration. Nothing here opens a path."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


# --- storage ---------------------------------------------------------------------------
def job_dir(job_id: str) -> str:
    """The storage folder of a job's files (storage names use ``/``, never OS paths)."""
    return f"jobs/{job_id}"


def put(name: str, data: bytes) -> str:
    """Store ``data`` under ``name``, replacing a file of that name; returns the stored
    name (a storage may adjust it)."""
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def put_new(name: str, data: bytes) -> str:
    """Store ``data`` under ``name`` unless a file is there already: the storage then
    picks another name, which is returned. A file another request is serving is never
    deleted under it, as :func:`put` would."""
    return default_storage.save(name, ContentFile(data))


def stored_size(name: str) -> int:
    return default_storage.size(name)


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
