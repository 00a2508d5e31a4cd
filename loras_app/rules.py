"""The one rule for whether a LoRA can be used, and its wording. Pure, so the payload
builder can apply it too."""

from __future__ import annotations


def unusable_reason(*, known: bool, enabled: bool = True, missing: bool = False) -> str | None:
    """Why a LoRA cannot be used now (to follow "LoRA 'x.safetensors' ..."), or None."""
    if not known:
        return "is not in the LoRA catalog"
    if missing:
        return "is in the catalog but its file is missing"
    if not enabled:
        return "is disabled in the catalog"
    return None
