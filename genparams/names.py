"""Names (checkpoint, VAE, sampler, scheduler, upscaler, ControlNet model and module),
checked against what the backends list and matched the way A1111 and the ControlNet
extension match them: A1111 silently falls back to something else on an unknown sampler or
checkpoint instead of failing.

Name checks are skipped, without an error, when no backend answers: the value may well be
right, and refusing every save while A1111 restarts would be worse than a job that later
fails with a clear message. A catalog passed in that lacks a list skips that list's check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from backends.catalog import models_catalog
from core.errors import BackendUnavailable

logger = logging.getLogger(__name__)

Catalog = dict[str, Any]

VAE_SPECIAL = ("Automatic", "None")


def load_catalog() -> Catalog | None:
    """The merged model catalog, or None when no backend answers (name checks are skipped)."""
    try:
        return models_catalog()
    except BackendUnavailable as exc:
        logger.warning("Name checks skipped, no backend answered: %s", exc.detail)
        return None


def unknown_name(kind: str, value: str, names: list[str]) -> str:
    return f"Unknown {kind} {value!r}. Valid: {', '.join(names)}."


def split_sampler_name(name: str, schedulers: list[dict]) -> tuple[str, str | None]:
    """Split a legacy name like "DPM++ 2M Karras" into ("DPM++ 2M", "Karras").

    As A1111's ``sd_samplers.get_sampler_and_scheduler``: a trailing " <label|name|alias>"
    of any scheduler is cut off, case-sensitively; the scheduler returned is its label.
    """
    found = None
    for scheduler in schedulers:
        options = [scheduler.get("label"), scheduler["name"], *(scheduler.get("aliases") or [])]
        for option in filter(None, options):
            if name.endswith(" " + option):
                found = scheduler.get("label") or scheduler["name"]
                name = name[: -(len(option) + 1)]
                break
    return name, found


def checkpoint_aliases(checkpoint: dict) -> set[str]:
    """The identifiers A1111 accepts for a checkpoint (``CheckpointInfo.ids``), as far as
    ``/sdapi/v1/sd-models`` reveals them: the full sha256 and the old 8-hex hash are not listed.
    """
    title, model_name, short = checkpoint["title"], checkpoint.get("name"), checkpoint.get("hash")
    name = title[: -len(f" [{short}]")] if short and title.endswith(f" [{short}]") else title
    stem = Path(checkpoint.get("filename") or name).stem
    aliases = {title, name, stem, model_name}
    if short:
        aliases |= {short, f"{stem} [{short}]"}
    return {a for a in aliases if a}


def _check_sampler(value: str, catalog: Catalog) -> str | None:
    base, _ = split_sampler_name(value, catalog.get("schedulers") or [])
    names = [s["name"] for s in catalog["samplers"]]
    return None if base in names else unknown_name("sampler", value, names)


def _check_scheduler(value: str, catalog: Catalog) -> str | None:
    schedulers = catalog["schedulers"]
    valid = {s["name"] for s in schedulers} | {s["label"] for s in schedulers if s.get("label")}
    labels = [s.get("label") or s["name"] for s in schedulers]
    return None if value in valid else unknown_name("scheduler", value, labels)


def _check_checkpoint(value: str, catalog: Catalog) -> str | None:
    if any(value in checkpoint_aliases(c) for c in catalog["checkpoints"]):
        return None
    return unknown_name("checkpoint", value, [c["title"] for c in catalog["checkpoints"]])


def _check_vae(value: str, catalog: Catalog) -> str | None:
    names = [*VAE_SPECIAL, *(v["name"] for v in catalog["vaes"])]
    return None if value in names else unknown_name("VAE", value, names)


def _check_upscaler(value: str, catalog: Catalog) -> str | None:
    names = [u["name"] for u in catalog["upscalers"]]
    return None if value in names else unknown_name("upscaler", value, names)


def _check_refiner(value: str, catalog: Catalog) -> str | None:
    if any(value in checkpoint_aliases(c) for c in catalog["checkpoints"]):
        return None
    return unknown_name("refiner checkpoint", value, [c["title"] for c in catalog["checkpoints"]])


def _check_face_restorer(value: str, catalog: Catalog) -> str | None:
    names = [f["name"] for f in catalog["face_restorers"]]
    return None if value in names else unknown_name("face restorer", value, names)


def _check_styles(value: list[str] | str, catalog: Catalog) -> str | None:
    """A1111 ignores a style name it does not have (``StyleDatabase.get_style_prompts``)."""
    names = [s["name"] for s in catalog["styles"]]
    unknown = [v for v in ([value] if isinstance(value, str) else value) if v not in names]
    if not unknown:
        return None
    return f"Unknown style {', '.join(repr(u) for u in unknown)}. Valid: {', '.join(names) or '(none)'}."


def checkpoint_titles(catalog: Catalog | None) -> dict[str, str]:
    """Every alias a user may give a checkpoint -> its exact title, which the payload names
    (A1111 silently drops an ``sd_model_checkpoint`` override it cannot resolve)."""
    titles: dict[str, str] = {}
    for checkpoint in (catalog or {}).get("checkpoints") or []:
        for alias in checkpoint_aliases(checkpoint):
            titles[alias] = checkpoint["title"]
    return titles


# field -> (the catalog list it is checked against, the check)
NAME_CHECKS = {
    "sampler_name": ("samplers", _check_sampler),
    "scheduler": ("schedulers", _check_scheduler),
    "checkpoint": ("checkpoints", _check_checkpoint),
    "vae": ("vaes", _check_vae),
    "hr_upscaler": ("upscalers", _check_upscaler),
    "refiner_checkpoint": ("checkpoints", _check_refiner),
    "face_restorer": ("face_restorers", _check_face_restorer),
    "styles": ("styles", _check_styles),
}


def check_names(attrs: dict[str, Any], catalog: Catalog) -> dict[str, list[str]]:
    """Field errors for names the catalog does not have; lists absent from it are skipped."""
    errors: dict[str, list[str]] = {}
    for field, (listing, check) in NAME_CHECKS.items():
        value = attrs.get(field)
        if value and catalog.get(listing) is not None:
            error = check(value, catalog)
            if error:
                errors[field] = [error]
    return errors


def find_controlnet_model(name: str, models: list[str]) -> str | None:
    """The model the extension would load for ``name`` (``find_closest_lora_model_name``):
    the exact entry, else a case-insensitive stem, else the shortest entry containing it."""
    if name in models:
        return name
    stems = {m.split(" [")[0].lower(): m for m in models}
    wanted = name.lower()
    if wanted in stems:
        return stems[wanted]
    matches = sorted((s for s in stems if wanted in s), key=len)
    return stems[matches[0]] if matches else None


def find_controlnet_module(
    name: str, modules: list[str], labels: dict[str, str] | None = None
) -> str | None:
    """The module's listed name, or its listed label (``labels``: label -> name; the
    extension takes either, and the UI and infotexts use labels), matched case-insensitively."""
    for spelling in [*modules, *(labels or {})]:
        if spelling.lower() == name.lower():
            return spelling
    return None
