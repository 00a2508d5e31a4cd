"""Where a scan reads from, and fetching what is there: a folder is walked (stat only), a
backend's ``/sdapi/v1/loras`` is asked over HTTP. The merge gets the result, never a client."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from a1111.client import A1111Error
from backends.models import Backend
from backends.registry import client_for, enabled_backends
from core.errors import ApiError, NotFound
from loras_app import scanner
from loras_app.models import is_backend_source
from loras_app.scan.items import BackendListing, FolderListing, Incoming, from_a1111_listing
from loras_app.scanner import ScanIssue


@dataclass
class Source:
    """Where a scan reads from: a folder, or the LoRA listing of some backends."""

    directory: str = ""
    backends: list[Backend] = field(default_factory=list)

    @property
    def from_backends(self) -> bool:
        return not self.directory

    @property
    def label(self) -> str:
        """What the ScanRun records; :func:`source_from_label` reads it back."""
        return self.directory or ",".join(b.url for b in self.backends)


def resolve_source(
    directory: str | None = None, backend: str | None = None, from_a1111: bool = False
) -> Source:
    """--dir, else --from-a1111 [BACKEND], else LORA_DIR when set, else every backend."""
    if directory:
        path = Path(directory).expanduser()
        if not path.is_dir():
            raise ApiError(f"{directory} is not a folder.", code="invalid_directory")
        return Source(directory=str(path.resolve()))
    if not from_a1111 and not backend and settings.LORA_DIR:
        return resolve_source(directory=settings.LORA_DIR)
    backends = enabled_backends()
    if backend:
        backends = [b for b in Backend.objects.all() if backend in (b.name, b.url, str(b.pk))]
        if not backends:
            raise NotFound(f"No backend named {backend!r}; see the admin's Backends list.")
    return Source(backends=backends)


def source_from_label(label: str) -> Source:
    """The Source a queued ScanRun recorded (ApiError if its folder is gone)."""
    if is_backend_source(label):
        urls = label.split(",")
        return Source(backends=list(Backend.objects.filter(url__in=urls)))
    if not label:
        return Source(backends=[])
    return resolve_source(directory=label)


def list_folder(root: Path) -> FolderListing:
    """Every LoRA file under ``root`` (size, mtimes, preview; headers are read later, and
    only for files that changed)."""
    listing = FolderListing(root=str(root))
    for item in scanner.walk(root):
        if isinstance(item, ScanIssue):
            listing.issues.append(item)
        else:
            listing.found.append(item)
    return listing


def list_backends(backends: list[Backend]) -> BackendListing:
    """Ask each backend to refresh and list its LoRAs; a failure is an issue, not a crash."""
    listing = BackendListing(urls={b.url for b in backends})
    if not backends:
        listing.complete = False
        listing.issues.append(ScanIssue("", "no enabled backend to list LoRAs from"))
        return listing
    for backend in backends:
        listing.items += _list_backend(backend, listing)
    return listing


def _list_backend(backend: Backend, listing: BackendListing) -> list[Incoming]:
    client = client_for(backend)
    try:
        try:
            client.refresh_loras()
        except A1111Error as exc:  # listing what it already knows is still useful
            listing.issues.append(ScanIssue(backend.url, f"refresh-loras failed: {exc.message}"))
        answer = client.loras()
    except A1111Error as exc:
        listing.complete = False
        listing.issues.append(ScanIssue(backend.url, f"cannot list LoRAs: {exc.message}"))
        return []
    finally:
        client.close()
    if not isinstance(answer, list):
        listing.complete = False
        listing.issues.append(ScanIssue(backend.url, "/sdapi/v1/loras did not answer a list"))
        return []
    items, issues = from_a1111_listing(backend.url, answer)
    listing.issues += issues
    return items
