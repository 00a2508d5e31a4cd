"""The model catalog (/models): what every enabled backend offers, merged and cached.

Apps above this layer may add a field to it (the LoRA catalog adds ``lora_count``) with
``register_catalog_field``, so this module never imports them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from a1111.client import A1111Error
from a1111.messages import actionable_message
from backends.models import Backend
from backends.registry import client_for, enabled_backends
from core.errors import BackendUnavailable

logger = logging.getLogger(__name__)

REGIONAL_PROMPTER_SCRIPT = "regional prompter"
CONTROLNET_SCRIPT = "controlnet"
ADETAILER_SCRIPT = "adetailer"
FAMILY_KEYS = ("modelspec.architecture", "ss_base_model_version")

# One listing at a time per process: requests that find the cache cold together (every
# web thread, the minute it expires) wait for that one and read its result.
_listing = threading.Lock()
# A backend whose listing failed is not asked again for this long: else every request, in
# turn behind the lock, would wait for a hung backend's timeout.
FAILED_LISTING_SECONDS = 5

# name -> function(per-backend listings) -> value; filled by apps in their ready().
_catalog_fields: dict[str, Callable[[list[dict[str, Any]]], Any]] = {}


def register_catalog_field(name: str, compute: Callable[[list[dict[str, Any]]], Any]) -> None:
    """Add a field to the merged catalog, computed from the backends' own listings."""
    _catalog_fields[name] = compute


def _backend_models(backend: Backend) -> dict[str, Any]:
    """Everything one backend offers, fetched with listing calls (no generation lock)."""
    client = client_for(backend)
    try:
        options = client.options()
        scripts = client.scripts()
        txt2img_scripts = [s.lower() for s in scripts.get("txt2img", [])]
        models: dict[str, Any] = {
            "checkpoints": [
                {
                    "title": m["title"],
                    "name": m["model_name"],
                    "hash": m.get("hash"),
                    "filename": m.get("filename"),
                    # Only what tells the model's family (SD1.5, SDXL…): metadata can be big.
                    "metadata": {
                        k: v for k, v in (m.get("metadata") or {}).items() if k in FAMILY_KEYS
                    },
                }
                for m in client.sd_models()
            ],
            "loaded_checkpoint": options.get("sd_model_checkpoint"),
            "vaes": [
                {"name": v["model_name"], "filename": v.get("filename")} for v in client.sd_vae()
            ],
            "samplers": [
                {"name": s["name"], "aliases": s.get("aliases") or []} for s in client.samplers()
            ],
            "schedulers": [
                {"name": s["name"], "label": s.get("label"), "aliases": s.get("aliases") or []}
                for s in client.schedulers()
            ],
            "upscalers": [{"name": u["name"], "scale": u.get("scale")} for u in client.upscalers()]
            + [{"name": m["name"], "scale": None} for m in client.latent_upscale_modes()],
            "embeddings": sorted((client.embeddings() or {}).get("loaded", {}).keys()),
            "backend_lora_count": len(client.loras()),
            "scripts": scripts,
            "regional_prompter": REGIONAL_PROMPTER_SCRIPT in txt2img_scripts,
            "controlnet": None,
            **_extras_listing(client),
            "adetailer": None,
        }
        if CONTROLNET_SCRIPT in txt2img_scripts:
            models["controlnet"] = _controlnet(client, options)
        if ADETAILER_SCRIPT in txt2img_scripts:
            models["adetailer"] = _adetailer(client)
    finally:
        client.close()
    return models


def _extras_listing(client) -> dict[str, Any]:
    """Face restorers, prompt styles and hypernetworks; [] when a route fails."""
    out: dict[str, Any] = {}
    for key, call, shape in (
        ("face_restorers", client.face_restorers, lambda f: {"name": f["name"]}),
        ("styles", client.prompt_styles,
         lambda s: {"name": s["name"], "prompt": s.get("prompt") or "",
                    "negative_prompt": s.get("negative_prompt") or ""}),
        ("hypernetworks", client.hypernetworks, lambda h: {"name": h["name"]}),
    ):  # fmt: skip
        try:
            out[key] = [shape(item) for item in call() or []]
        except A1111Error as exc:
            logger.warning("%s listing failed: %s", key, exc)
            out[key] = []
    return out


def _adetailer(client) -> dict[str, Any] | None:
    try:
        info = {"version": client.adetailer_version(), "models": client.adetailer_models()}
    except A1111Error as exc:
        logger.warning("ADetailer listed as a script but its API failed: %s", exc)
        return None
    try:  # [ad_enable, ad_skip_img2img, *one dict per tab] (adetailer/ui.py adui)
        script = next(s for s in client.script_info() if s.get("name") == "adetailer")
        info["tabs"] = max(1, len(script.get("args") or []) - 2)
    except (A1111Error, StopIteration):
        info["tabs"] = 2
    return info


def _controlnet(client, options: dict[str, Any]) -> dict[str, Any] | None:
    try:
        modules = client.controlnet_module_list()
        unit_count = options.get("control_net_unit_count")
        try:
            unit_count = client.controlnet_settings().get("control_net_unit_count", unit_count)
        except A1111Error:
            pass  # Forge has no /controlnet/settings
        names = modules.get("module_list", [])
        return {
            "version": client.controlnet_version(),
            "models": client.controlnet_model_list(),
            "modules": names,
            "module_labels": _module_labels(client, names),
            "module_detail": modules.get("module_detail", {}),
            "unit_count": int(unit_count or 3),
        }
    except A1111Error as exc:
        logger.warning("ControlNet listed as a script but its API failed: %s", exc)
        return None


def _module_labels(client, names: list[str]) -> dict[str, str]:
    """label -> name: units may name a preprocessor by its label ("depth_midas" for "depth"),
    as the extension accepts (Preprocessor.get_preprocessor); both lists share one order."""
    try:
        labels = client.controlnet_module_list(alias_names=True).get("module_list", [])
    except A1111Error:
        return {}
    if len(labels) != len(names):
        return {}
    return {label: name for label, name in zip(labels, names, strict=True) if label != name}


def _cache_key(backend: Backend) -> str:
    return f"a1111hub:models:{backend.url}"


# Changes whenever any backend's listing is stored (a token, not a counter: a cleared cache
# must never bring an old value back).
VERSION_KEY = "a1111hub:models:version"


def _keep(backend: Backend, models: dict[str, Any]) -> dict[str, Any]:
    models["fetched_at"] = timezone.now().isoformat()
    cache.set(_cache_key(backend), models, settings.MODELS_CACHE_SECONDS)
    cache.set(VERSION_KEY, uuid4().hex, None)
    _record_capabilities(backend, models)
    return models


def backend_models(backend: Backend, refresh: bool = False) -> dict[str, Any]:
    """One backend's models, cached for MODELS_CACHE_SECONDS."""
    cached = None if refresh else cache.get(_cache_key(backend))
    return cached if cached is not None else _keep(backend, _backend_models(backend))


def _fetch(backend: Backend) -> dict[str, Any] | A1111Error:
    """HTTP only (no database): safe to run for several backends from threads."""
    try:
        return _backend_models(backend)
    except A1111Error as exc:
        return exc


def _all_backend_models(backends: list[Backend], refresh: bool) -> list:
    """Each backend's models or its error; the ones not cached are asked in parallel, so a
    hub with many backends lists them in the time of the slowest, not of all together."""
    found: dict[int, Any] = {}
    if not refresh:
        found = _cached(backends)
    if len(found) < len(backends):
        with _listing:
            if not refresh:  # another thread may have listed them while this one waited
                found = _cached(backends)
            missing = []
            for backend in (b for b in backends if b.pk not in found):
                failed = None if refresh else cache.get(_failed_key(backend))
                if failed is not None:  # (status, message, failure)
                    found[backend.pk] = A1111Error(backend.url, *failed)
                else:
                    missing.append(backend)
            if missing:
                with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
                    fetched = list(pool.map(_fetch, missing))
                for backend, result in zip(missing, fetched, strict=True):
                    if isinstance(result, A1111Error):
                        failed = (result.status, result.message, result.failure)
                        cache.set(_failed_key(backend), failed, FAILED_LISTING_SECONDS)
                        found[backend.pk] = result
                    else:
                        found[backend.pk] = _keep(backend, result)
    return [found[b.pk] for b in backends]


def _failed_key(backend: Backend) -> str:
    return f"a1111hub:models-failed:{backend.url}"


def _cached(backends: list[Backend]) -> dict[int, Any]:
    return {b.pk: m for b in backends if (m := cache.get(_cache_key(b))) is not None}


def _record_capabilities(backend: Backend, models: dict[str, Any]) -> None:
    """Keep what the backend can do on its row: job routing reads it there."""
    found = {
        "controlnet": models["controlnet"] is not None,
        "regional_prompter": models["regional_prompter"],
        "adetailer": models.get("adetailer") is not None,
        # The scheduler routes by these without asking the backend (no HTTP in a claim).
        "checkpoints": sorted(c["title"] for c in models["checkpoints"]),
    }
    current = Backend.objects.filter(pk=backend.pk).values_list("capabilities", flat=True).first()
    if current is not None and any(current.get(k) != v for k, v in found.items()):
        Backend.objects.filter(pk=backend.pk).update(capabilities={**current, **found})


def _union(lists: list[list[dict]], key: str) -> list[dict]:
    seen: dict[str, dict] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item[key], item)
    return list(seen.values())


@dataclass(frozen=True)
class _Merged:
    backends: tuple
    version: str
    until: datetime
    catalog: dict[str, Any]
    parts: list[dict[str, Any]]


# The last merged listing in this process. Every request that checks names needs it, and
# reading each backend's listing from the cache (unpickled, per backend) cost more than
# the rest of a POST on a hub with 16 backends; it is reused while no listing changed.
_merged: _Merged | None = None


def models_catalog(refresh: bool = False) -> dict[str, Any]:
    """What every enabled backend offers, merged; raises BackendUnavailable if none answers."""
    global _merged
    backends = enabled_backends()
    key = tuple((b.pk, b.url) for b in backends)
    version = cache.get(VERSION_KEY)
    memo = _merged
    fresh = (
        not refresh
        and memo is not None
        and (memo.backends, memo.version) == (key, version)
        and memo.until > timezone.now()
    )
    if fresh:
        catalog, parts = memo.catalog, memo.parts
    else:
        catalog, parts = _merge(backends, refresh)
        # Only a complete listing is kept (an unreachable backend is asked again next
        # time), under the version read before listing: one stored meanwhile outdates it.
        if not catalog["unreachable_backends"] and version is not None:
            oldest = min(datetime.fromisoformat(m["fetched_at"]) for m in parts)
            until = oldest + timedelta(seconds=settings.MODELS_CACHE_SECONDS)
            _merged = _Merged(key, version, until, catalog, parts)
    # Fields added by other apps are computed each time (the LoRA count changes on a scan).
    return catalog | {name: compute(parts) for name, compute in _catalog_fields.items()}


def _merge(backends: list[Backend], refresh: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The listings of ``backends`` merged, and the listings themselves."""
    per_backend: list[tuple[Backend, dict[str, Any]]] = []
    errors = []
    for backend, result in zip(backends, _all_backend_models(backends, refresh), strict=True):
        if isinstance(result, A1111Error):
            errors.append({"url": backend.url, "error": actionable_message(result)})
        else:
            per_backend.append((backend, result))
    if not per_backend:
        raise BackendUnavailable(
            "No A1111 backend answered, so the model list is unknown. "
            + " ".join(e["error"] for e in errors),
            code="backend_unavailable",
            backends=errors,
        )
    parts = [m for _, m in per_backend]
    controlnets = [m["controlnet"] for m in parts if m["controlnet"]]
    return {
        "checkpoints": _union([m["checkpoints"] for m in parts], "title"),
        "loaded_checkpoint": parts[0]["loaded_checkpoint"],
        "vaes": _union([m["vaes"] for m in parts], "name"),
        "samplers": _union([m["samplers"] for m in parts], "name"),
        "schedulers": _union([m["schedulers"] for m in parts], "name"),
        "upscalers": _union([m["upscalers"] for m in parts], "name"),
        "embeddings": sorted({e for m in parts for e in m["embeddings"]}),
        "lora_count": max(m["backend_lora_count"] for m in parts),
        "controlnet": _merge_controlnet(controlnets),
        "regional_prompter": any(m["regional_prompter"] for m in parts),
        "face_restorers": _union([m.get("face_restorers") or [] for m in parts], "name"),
        "styles": _union([m.get("styles") or [] for m in parts], "name"),
        "hypernetworks": _union([m.get("hypernetworks") or [] for m in parts], "name"),
        "adetailer": _merge_adetailer([m.get("adetailer") for m in parts if m.get("adetailer")]),
        "backends": [
            {
                "url": b.url,
                "loaded_checkpoint": m["loaded_checkpoint"],
                "controlnet": m["controlnet"] is not None,
                "regional_prompter": m["regional_prompter"],
                "adetailer": m.get("adetailer") is not None,
                "fetched_at": m["fetched_at"],
            }
            for b, m in per_backend
        ],
        "unreachable_backends": errors,
    }, parts


def _merge_adetailer(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not found:
        return None
    models = list(dict.fromkeys(m for a in found for m in a["models"]))
    tabs = min(a.get("tabs") or 2 for a in found)
    return {"version": found[0]["version"], "models": models, "tabs": tabs}


def _merge_controlnet(units: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not units:
        return None
    merged = dict(units[0])
    merged["models"] = list(dict.fromkeys(m for u in units for m in u["models"]))
    merged["modules"] = list(dict.fromkeys(m for u in units for m in u["modules"]))
    merged["module_labels"] = {
        k: v for u in units for k, v in (u.get("module_labels") or {}).items()
    }
    merged["unit_count"] = min(u["unit_count"] for u in units)
    return merged
