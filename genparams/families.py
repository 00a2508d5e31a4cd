"""Model families (SD1.5, SD2, SDXL) of checkpoints and ControlNet models, as far as their
names and metadata tell, and whether the ControlNet extension would run them together.

The extension checks a unit's model against the loaded checkpoint inside ``Script.process``
(``scripts/controlnet.py`` ``check_sd_version_compatible``; ``scripts/enums.py``
``StableDiffusionVersion.detect_from_model_name`` and ``is_compatible_with``) and A1111's
``ScriptRunner`` swallows the error: the job answers 200 with no unit applied. So the hub
refuses a mismatch before queueing. A family that cannot be told is ``None`` and is never
refused (the extension does not check it either).
"""

from __future__ import annotations

from typing import Any

SD1, SD2, SDXL = "sd1", "sd2", "sdxl"
LABELS = {SD1: "SD1.5", SD2: "SD2", SDXL: "SDXL"}

# Checkpoint names: "xl" anywhere is SDXL (sd_xl_base_1.0, ponyDiffusionV6XL, juggernautXL);
# these mark SD2 and SD1.5. A name with none of them is unknown, not SD1.5: many SDXL
# fine-tunes carry no "xl", and refusing them would be worse than the extension's silence
# (which the runner flags after the run).
# Only markers of the base model itself: "v1.5" or "2.1" are as often a fine-tune's version.
_SD2_MARKERS = ("sd2", "sd_2", "sd-2", "v2-0", "v2-1", "768-v")
_SD1_MARKERS = ("sd15", "sd_15", "sd-15", "sd1.5", "sd_1.5", "sd-1-5", "sd_1_5", "v1-5-",
                "sd14", "v1-4-", "sd_v1", "sd-v1")  # fmt: skip


def label(family: str | None) -> str:
    return LABELS.get(family or "", "unknown")


def controlnet_model_family(name: str) -> str | None:
    """``StableDiffusionVersion.detect_from_model_name``, on the name the hub sends."""
    lower = name.lower()
    if any(f"sd{v}" in lower for v in ("14", "15", "16")):
        return SD1
    if "sd21" in lower or "2.1" in lower:
        return SD2
    if "xl" in lower:
        return SDXL
    return None


def _family_from_metadata(metadata: dict[str, Any] | None) -> str | None:
    """``modelspec.architecture`` or kohya's ``ss_base_model_version``, when listed."""
    if not isinstance(metadata, dict):
        return None
    for key in ("modelspec.architecture", "ss_base_model_version"):
        value = str(metadata.get(key) or "").lower()
        if "xl" in value:
            return SDXL
        if "v2" in value or "sd2" in value:
            return SD2
        if "v1" in value or "sd1" in value:
            return SD1
    return None


def checkpoint_family(checkpoint: dict[str, Any] | str | None) -> str | None:
    """A checkpoint's family from its ``/sdapi/v1/sd-models`` entry (metadata first, then
    title, file name and model name), or from a bare title."""
    if not checkpoint:
        return None
    if isinstance(checkpoint, str):
        checkpoint = {"title": checkpoint}
    found = _family_from_metadata(checkpoint.get("metadata"))
    if found:
        return found
    text = " ".join(str(checkpoint.get(k) or "") for k in ("title", "filename", "name")).lower()
    if "xl" in text:
        return SDXL
    if any(m in text for m in _SD2_MARKERS):
        return SD2
    if any(m in text for m in _SD1_MARKERS):
        return SD1
    return None


def compatible(model_family: str | None, checkpoint_family: str | None) -> bool:
    """``is_compatible_with``: an unknown side is never checked; otherwise only SDXL against
    non-SDXL is a mismatch (what the extension refuses, silently)."""
    if model_family is None or checkpoint_family is None:
        return True
    return (model_family == SDXL) == (checkpoint_family == SDXL)


def find_checkpoint(title: str, checkpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """The catalog entry with this title (or a bare entry when it is not listed)."""
    return next((c for c in checkpoints if c.get("title") == title), {"title": title})
