"""File hashes: the full-file sha256 and A1111's short hash, in one read of the file.

A1111 names a LoRA's hash ``sshs_model_hash`` from the metadata, else the sha256 of the
tensor payload (the "addnet hash": every byte after the header) for safetensors, else of
the whole file; its short hash is the first 12 hex characters. Full hashing runs at
~1.4 GB/s per core, so it is background work, never part of a scan: ``hash_pending`` runs
on the housekeeping queue after a scan (or in the foreground with ``scan_loras --hashes``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
from collections.abc import Callable

from django.db.models import QuerySet

from loras_app.models import Lora, backend_source_filter

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def file_hashes(path: str) -> tuple[str, str]:
    """(sha256 of the whole file, A1111's hash) — the latter is the addnet hash for
    safetensors files and the full sha256 otherwise."""
    full = hashlib.sha256()
    with open(path, "rb") as f:
        if not path.lower().endswith(".safetensors"):
            while chunk := f.read(CHUNK):
                full.update(chunk)
            return full.hexdigest(), full.hexdigest()
        prefix = f.read(8)
        full.update(prefix)
        (length,) = struct.unpack("<Q", prefix) if len(prefix) == 8 else (0,)
        full.update(f.read(length))
        payload = hashlib.sha256()
        while chunk := f.read(CHUNK):
            full.update(chunk)
            payload.update(chunk)
    return full.hexdigest(), payload.hexdigest()


def short_hash(metadata: dict, a1111_hash: str) -> str:
    """What A1111 shows as the LoRA's hash (``Lora hashes`` in the infotext)."""
    given = metadata.get("sshs_model_hash")
    return (given if isinstance(given, str) and given else a1111_hash)[:12].lower()


# --- the catalog's pending hashes ---------------------------------------------------------
def pending_hashes() -> QuerySet[Lora]:
    """Rows read from a folder whose file has no hash for its current content yet."""
    return (
        Lora.objects.filter(missing=False, sha256="")
        .exclude(source="")
        .exclude(backend_source_filter())
    )


def hash_pending(
    max_seconds: float | None = None, progress: Callable[[str, int, int], None] | None = None
) -> int:
    """Hash catalog files that have no hash for their current (size, mtime)."""
    started = time.monotonic()
    todo = list(
        pending_hashes().values_list("id", "source", "relative_path", "size", "mtime", "metadata")
    )
    done = 0
    for n, (pk, source, rel, size, mtime, metadata) in enumerate(todo, 1):
        path = os.path.join(source, rel)
        try:
            st = os.stat(path)
            if (st.st_size, st.st_mtime) != (size, mtime):
                continue  # changed since the scan: the next scan re-reads it
            sha256, a1111_hash = file_hashes(path)
        except OSError as exc:
            logger.warning("Cannot hash %s: %s", path, exc)
            continue
        Lora.objects.filter(pk=pk, size=size, mtime=mtime).update(
            sha256=sha256, short_hash=short_hash(metadata or {}, a1111_hash)
        )
        done += 1
        if progress:
            progress("hash", n, len(todo))
        if max_seconds and time.monotonic() - started > max_seconds:
            break
    return done
