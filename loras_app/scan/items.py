"""What a scan found, as rows to write: a file's header and sidecar, or an entry of A1111's
LoRA listing, turned into an :class:`Incoming`; and the listings a source hands the merge.
No HTTP and no database here (reading a file's header is the only I/O)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from loras_app import scanner
from loras_app.scanner import FoundFile, ScanIssue


@dataclass
class Incoming:
    """A LoRA as found now, ready to be written."""

    relative_path: str
    filename: str
    source: str
    fields: dict[str, Any]
    tags: list[tuple[str, int]]
    path: str = ""  # absolute, disk only


@dataclass
class FolderListing:
    """A walked LoRA root: the files found (stat only, headers not read yet) and problems."""

    root: str
    found: list[FoundFile] = field(default_factory=list)
    issues: list[ScanIssue] = field(default_factory=list)


@dataclass
class BackendListing:
    """What the backends listed, in order; ``complete`` is False when one did not answer
    (then nothing may be marked missing)."""

    urls: set[str] = field(default_factory=set)
    items: list[Incoming] = field(default_factory=list)
    issues: list[ScanIssue] = field(default_factory=list)
    complete: bool = True


def read_file(f: FoundFile, source: str) -> tuple[Incoming | None, list[ScanIssue]]:
    """A found file's header and sidecar as an Incoming (None if the header is unreadable)."""
    stem = PurePosixPath(f.relative_path).name.rsplit(".", 1)[0]
    metadata: dict[str, Any] = {}
    problems: list[str] = []
    if f.relative_path.lower().endswith(".safetensors"):
        try:
            metadata, problems = scanner.header_metadata(scanner.read_header(f.path))
        except scanner.HeaderError as exc:
            return None, [ScanIssue(f.relative_path, str(exc))]
    user, user_problems = scanner.read_user_metadata(f.path) if f.sidecar_mtime else ({}, [])
    described = scanner.describe(stem, metadata, user)
    issues = [ScanIssue(f.relative_path, p) for p in problems + user_problems + described.problems]
    fields = _fields(described, metadata)
    fields.update(size=f.size, mtime=f.mtime, sidecar_mtime=f.sidecar_mtime, preview=f.preview)
    name = PurePosixPath(f.relative_path).name
    return Incoming(f.relative_path, name, source, fields, described.tags, path=f.path), issues


def from_a1111_listing(url: str, listing: list[Any]) -> tuple[list[Incoming], list[ScanIssue]]:
    """The entries of one backend's ``/sdapi/v1/loras`` answer as Incoming items."""
    paths = [e["path"] for e in listing if isinstance(e, dict) and isinstance(e.get("path"), str)]
    root = _common_dir(paths)
    items: list[Incoming] = []
    issues: list[ScanIssue] = []
    for entry in listing:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            issues.append(ScanIssue(url, f"unexpected LoRA entry: {str(entry)[:200]}"))
            continue
        filename = scanner.filename_from_a1111_path(entry["path"])
        metadata = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
        stem = str(entry.get("name") or filename.rsplit(".", 1)[0])
        described = scanner.describe(stem, metadata)
        issues += [ScanIssue(filename, problem) for problem in described.problems]
        fields = _fields(described, metadata)
        if isinstance(entry.get("alias"), str) and entry["alias"]:
            fields["alias"] = entry["alias"][:255]
        rel = _relative(entry["path"], root)
        items.append(Incoming(rel, filename, url, fields, described.tags))
    return items, issues


def _fields(described: scanner.Described, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": described.name,
        "alias": described.alias,
        "base_model": described.base_model,
        "trigger_words": described.trigger_words,
        "description": described.description,
        "preferred_weight": described.preferred_weight,
        "short_hash": described.short_hash,
        "metadata": metadata,
    }


def _common_dir(paths: list[str]) -> str:
    dirs = [p.replace("\\", "/").rsplit("/", 1)[0] for p in paths]
    if not dirs:
        return ""
    try:
        return os.path.commonpath(dirs)
    except ValueError:
        return ""


def _relative(path: str, root: str) -> str:
    path = path.replace("\\", "/")
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path.rsplit("/", 1)[-1]
