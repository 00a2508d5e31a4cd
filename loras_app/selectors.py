"""Reading the catalog for other apps: one LoRA, which LoRAs are usable, how many."""

from __future__ import annotations

from typing import Any

from core.errors import NotFound
from loras_app.models import Lora
from loras_app.rules import unusable_reason
from loras_app.search import suggest


def _reason(lora: Lora | None) -> str | None:
    if lora is None:
        return unusable_reason(known=False)
    return unusable_reason(known=True, enabled=lora.enabled, missing=lora.missing)


def _not_found(filename: str, reason: str) -> NotFound:
    suggestions = [f for f in suggest(filename, limit=5) if f != filename]
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
