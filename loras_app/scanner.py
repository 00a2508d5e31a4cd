"""Reading LoRA files: walking the root, safetensors headers, A1111's sidecar files, and
turning raw kohya / ModelSpec metadata into catalog fields. No database here.

Only the 8-byte length and the JSON header of a safetensors file are read, never the
tensors: a header read by hand runs at ~10k files/s cold, a library that maps the file at
a few hundred.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

SUFFIXES = (".safetensors", ".pt", ".ckpt")
# The safetensors library refuses headers over 100 MB; real LoRA headers are a few KB to
# a few MB (a ModelSpec thumbnail is the biggest part).
MAX_HEADER_BYTES = 100 * 1024 * 1024
PREVIEW_SUFFIXES = (
    ".preview.png",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
)
MAX_TAGS = 30
RESERVED_NAMES = {"none"}


class HeaderError(Exception):
    """The file is not a readable safetensors file; the message says why."""


@dataclass
class FoundFile:
    """A LoRA file found under the root, with what a re-scan compares."""

    path: str  # absolute
    relative_path: str  # posix, relative to the root
    size: int
    mtime: float
    sidecar_mtime: float = 0.0
    preview: str = ""  # relative to the root


@dataclass
class ScanIssue:
    path: str
    reason: str


@dataclass
class Described:
    """Catalog fields derived from a file's metadata."""

    name: str
    alias: str
    base_model: str
    trigger_words: list[str]
    tags: list[tuple[str, int]]
    description: str
    preferred_weight: float
    short_hash: str
    problems: list[str] = field(default_factory=list)


# --- walking -----------------------------------------------------------------------------
def walk(root: Path) -> Iterator[FoundFile | ScanIssue]:
    """Every LoRA file under ``root``, recursively; bad entries come out as ScanIssues.

    Symlinks are followed only when they stay inside the root and do not lead back into
    a folder already walked (a loop).
    """
    real_root = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    stack = [real_root]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                yield ScanIssue(_rel(directory, real_root), "symlink loop: folder already scanned")
                continue
            seen_dirs.add(key)
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            yield ScanIssue(
                _rel(directory, real_root), f"cannot read folder: {exc.strerror or exc}"
            )
            continue
        names = {e.name for e in entries}
        for entry in entries:
            yield from _visit(entry, names, directory, real_root, stack)


def _visit(entry: os.DirEntry, names: set[str], directory: str, real_root: str, stack: list[str]):
    rel = _rel(entry.path, real_root)
    try:
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if not os.path.exists(target):
                yield ScanIssue(rel, "broken symlink or symlink loop")
                return
            if os.path.commonpath([target, real_root]) != real_root:
                yield ScanIssue(rel, f"symlink points outside the LoRA root ({target})")
                return
        if entry.is_dir():
            if not entry.name.startswith("."):
                stack.append(entry.path)
            return
        if not entry.name.lower().endswith(SUFFIXES):
            return
        st = entry.stat()
    except OSError as exc:
        yield ScanIssue(rel, f"cannot read: {exc.strerror or exc}")
        return
    stem = entry.name.rsplit(".", 1)[0]
    sidecar_mtime = 0.0
    if f"{stem}.json" in names:
        try:
            sidecar_mtime = os.stat(os.path.join(directory, f"{stem}.json")).st_mtime
        except OSError:
            pass
    preview = next((stem + s for s in PREVIEW_SUFFIXES if stem + s in names), "")
    if preview:
        preview = str(PurePosixPath(rel).parent / preview)
    yield FoundFile(entry.path, rel, st.st_size, st.st_mtime, sidecar_mtime, preview)


def _rel(path: str, real_root: str) -> str:
    return PurePosixPath(*Path(os.path.relpath(path, real_root)).parts).as_posix()


# --- reading -----------------------------------------------------------------------------
def read_header(path: str) -> dict[str, Any]:
    """The JSON header of a safetensors file; raises HeaderError with the reason."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise HeaderError("empty file")
            if size < 8:
                raise HeaderError(f"truncated: {size} bytes, too short for a safetensors header")
            (length,) = struct.unpack("<Q", f.read(8))
            if length > MAX_HEADER_BYTES:
                raise HeaderError(
                    f"header length {length} is absurdly large (limit {MAX_HEADER_BYTES})"
                )
            if 8 + length > size:
                raise HeaderError(
                    f"header length {length} runs past the end of the file ({size} bytes)"
                )
            if length < 2:
                raise HeaderError(f"header length {length} is too small")
            raw = f.read(length)
    except OSError as exc:
        raise HeaderError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"header is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        header = json.loads(text)
    except ValueError as exc:
        raise HeaderError(f"header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise HeaderError(f"header is a JSON {type(header).__name__}, not an object")
    return header


def header_metadata(header: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """``__metadata__`` with only string values kept (the format allows nothing else)."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict):
        return {}, [f"__metadata__ is a {type(meta).__name__}, not an object; ignored"]
    kept: dict[str, str] = {}
    problems = []
    for key, value in meta.items():
        if isinstance(value, str):
            kept[key] = value
        else:
            problems.append(f"metadata {key!r} is a {type(value).__name__}, not a string; ignored")
    return kept, problems


def read_user_metadata(path: str) -> tuple[dict[str, Any], list[str]]:
    """A1111's per-LoRA ``NAME.json`` (description, activation text, preferred weight…)."""
    sidecar = os.path.splitext(path)[0] + ".json"
    try:
        with open(sidecar, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as exc:
        return {}, [f"{os.path.basename(sidecar)} is unreadable ({exc}); ignored"]
    if not isinstance(data, dict):
        return {}, [f"{os.path.basename(sidecar)} is not a JSON object; ignored"]
    return data, []


# --- describing ----------------------------------------------------------------------------
def describe(stem: str, metadata: dict[str, Any], user: dict[str, Any] | None = None) -> Described:
    """Catalog fields from kohya ``ss_*`` / ``modelspec.*`` metadata and A1111's user file.

    ``metadata`` values may be strings (from disk) or already-decoded objects (A1111's API
    decodes values that start with ``{``); both are accepted, junk is reported not raised.
    """
    user = user or {}
    problems: list[str] = []
    alias = _text(metadata.get("ss_output_name")) or stem
    name = _text(metadata.get("modelspec.title")) or alias
    tags = _tag_frequency(metadata.get("ss_tag_frequency"), problems)
    triggers = _split(user.get("activation text")) or _split(
        metadata.get("modelspec.trigger_phrase")
    )
    if not triggers and tags:
        top = tags[0][1]
        triggers = [t for t, n in tags[:3] if n == top]
    description = _text(user.get("description")) or _text(metadata.get("modelspec.description"))
    weight = 1.0
    if user.get("preferred weight") not in (None, "", 0):
        try:
            weight = float(user["preferred weight"])
        except (TypeError, ValueError):
            problems.append(f"preferred weight {user['preferred weight']!r} is not a number")
    short_hash = _text(metadata.get("sshs_model_hash"))[:12].lower()
    if short_hash and not all(c in "0123456789abcdef" for c in short_hash):
        problems.append("sshs_model_hash is not hexadecimal; ignored")
        short_hash = ""
    return Described(
        name=name[:255],
        alias=alias[:255],
        base_model=base_model(metadata, _text(user.get("sd version"))),
        trigger_words=triggers,
        tags=tags,
        description=description,
        preferred_weight=weight,
        short_hash=short_hash,
        problems=problems,
    )


def base_model(metadata: dict[str, Any], user_version: str = "") -> str:
    """SD1.5 / SD2 / SDXL / Pony / Illustrious / SD3 / Flux, or "" when unknown."""
    model_name = _text(metadata.get("ss_sd_model_name")).lower()
    version = _text(metadata.get("ss_base_model_version")).lower()
    arch = _text(metadata.get("modelspec.architecture")).lower()
    if "flux" in version or "flux" in arch:
        return "Flux"
    if version.startswith("sd3") or "stable-diffusion-3" in arch or "-v3" in arch:
        return "SD3"
    xl = version.startswith("sdxl") or "-xl-" in arch or user_version.upper() == "SDXL"
    if "pony" in model_name:
        return "Pony"
    if "illustrious" in model_name:
        return "Illustrious"
    if xl:
        return "SDXL"
    if version.startswith("sd_v2") or _text(metadata.get("ss_v2")) == "True" or "-v2" in arch:
        return "SD2"
    if user_version.upper() == "SD2":
        return "SD2"
    if metadata or user_version.upper() == "SD1":
        return "SD1.5"
    return ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _split(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [w.strip() for w in value.split(",") if w.strip()]


def _tag_frequency(value: Any, problems: list[str]) -> list[tuple[str, int]]:
    """The most frequent training tags over all dataset folders, highest first."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            problems.append("ss_tag_frequency is not valid JSON; ignored")
            return []
    if not isinstance(value, dict):
        problems.append("ss_tag_frequency is not an object; ignored")
        return []
    totals: dict[str, int] = {}
    for folder in value.values():
        if not isinstance(folder, dict):
            problems.append("ss_tag_frequency has a folder that is not an object; skipped")
            continue
        for tag, count in folder.items():
            tag = str(tag).strip()
            if tag and isinstance(count, int | float) and not isinstance(count, bool):
                totals[tag[:200]] = totals.get(tag[:200], 0) + int(count)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TAGS]


# --- A1111's listing -----------------------------------------------------------------------
def filename_from_a1111_path(path: str) -> str:
    """The file name from A1111's absolute path, whichever OS A1111 runs on."""
    return (PureWindowsPath(path) if "\\" in path else PurePosixPath(path)).name
