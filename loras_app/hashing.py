"""File hashes: the full-file sha256 and A1111's short hash, in one read of the file.

A1111 names a LoRA's hash ``sshs_model_hash`` from the metadata, else the sha256 of the
tensor payload (the "addnet hash": every byte after the header) for safetensors, else of
the whole file; its short hash is the first 12 hex characters. Full hashing runs at
~1.4 GB/s per core, so it is background work, never part of a scan.
"""

from __future__ import annotations

import hashlib
import struct

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
