"""Reading the catalog: one LoRA, a page of a search, which LoRAs are usable, how many, a
preview file, a scan's record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from core.errors import NotFound
from loras_app import search
from loras_app.models import Lora, LoraCivitai, ScanRun
from loras_app.rules import unusable_reason


def _reason(lora: Lora | None) -> str | None:
    if lora is None:
        return unusable_reason(known=False)
    return unusable_reason(known=True, enabled=lora.enabled, missing=lora.missing)


def _not_found(filename: str, reason: str) -> NotFound:
    suggestions = [f for f in search.suggest(filename, limit=5) if f != filename]
    detail = f"LoRA {filename!r} {reason}."
    if suggestions:
        detail += " Did you mean: " + ", ".join(suggestions) + "?"
    return NotFound(detail, code="lora_not_found", suggestions=suggestions)


def get_lora(filename: str) -> Lora:
    """One catalog row, whatever its state (404 with suggestions if there is none)."""
    lora = Lora.objects.filter(filename=filename).prefetch_related("lora_tags__tag").first()
    if lora is None:
        raise _not_found(filename, unusable_reason(known=False))
    return lora


def usable_lora(filename: str) -> Lora:
    """The catalog's LoRA for ``filename`` if it can be used now; else 404 with suggestions."""
    lora = Lora.objects.filter(filename=filename).first()
    reason = _reason(lora)
    if reason:
        raise _not_found(filename, reason)
    return lora


def unusable_loras(filenames: set[str]) -> dict[str, str]:
    """filename -> why it cannot be used, for each of ``filenames`` that cannot."""
    if not filenames:
        return {}
    found = {
        lora.filename: lora
        for lora in Lora.objects.filter(filename__in=filenames).only(
            "filename", "enabled", "missing"
        )
    }
    reasons = {}
    for filename in filenames:
        reason = _reason(found.get(filename))
        if reason:
            reasons[filename] = reason
    return reasons


def loras_by_name(filenames: set[str], prompt_names: set[str]) -> list[Lora]:
    """The rows a request names, by filename or by the name A1111 resolves in a tag."""
    return list(
        Lora.objects.filter(filename__in=filenames)
        | Lora.objects.filter(prompt_name__in=prompt_names)
    )


def catalog_is_empty() -> bool:
    return not Lora.objects.exists()


def lora_count(backend_listings: list[dict[str, Any]]) -> int:
    """Usable LoRAs in the catalog (enabled, file present); the backends' own count before
    the first scan."""
    if Lora.objects.exists():
        return Lora.objects.filter(enabled=True, missing=False).count()
    return max(m["backend_lora_count"] for m in backend_listings)


def find_loras(
    search_text: str = "",
    tag: str = "",
    base_model: str = "",
    enabled: str = "true",
    include_missing: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> tuple[int, list[Lora]]:
    """One page of the catalog: ranked matches for a search, else newest first."""
    filters = search.Filters(
        tag=tag,
        base_model=base_model,
        enabled={"true": True, "false": False}.get(enabled),
        include_missing=include_missing,
    )
    total, ids = search.search(search_text, filters, limit=limit, offset=offset)
    return total, search.page_rows(ids)


def preview_path(lora: Lora) -> Path | None:
    """The preview image on disk, if the row came from a folder and the file is inside it."""
    if not lora.preview or not lora.source or lora.from_backend:
        return None
    root = Path(lora.source).resolve()
    path = (root / lora.preview).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def civitai_thumbnail(lora: Lora) -> str | None:
    """The storage name of the thumbnail Civitai enrichment kept, if it is still there."""
    row = LoraCivitai.objects.filter(lora=lora).exclude(thumbnail="").first()
    if row is None or not default_storage.exists(row.thumbnail):
        return None
    return row.thumbnail


def get_scan(scan_id: int) -> ScanRun:
    run = ScanRun.objects.filter(pk=scan_id).first()
    if run is None:
        raise NotFound(f"No LoRA scan {scan_id}.", code="scan_not_found")
    return run
