"""ControlNet (Mikubill/sd-webui-controlnet): units for the payload, and the preprocessor.

The extension is strict and silent in turns (its ``scripts/controlnet.py`` and
``external_code.py``; see docs/guide/controlnet.md): it rejects integer
``resize_mode``/``control_mode``, fails a whole job with a 500 on an unknown model or a
unit without an image, and silently ignores units beyond ``control_net_unit_count``. The
hub settles all of that before queueing. Unit settings are checked by
``genparams.controlnet.validate_controlnet_units`` (shared with sessions and presets); this module adds
what only a generation has: images, session defaults, and the complete unit sent.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from a1111.client import A1111Error
from backends.models import Backend
from backends.registry import client_for
from core.errors import ApiError, BackendUnavailable
from generation_app.jobs.payloads import BuildInputs, merge_params
from generation_app.media.uploads import CheckedImage, check_image
from genparams import families
from genparams.controlnet import CONTROLNET_UNIT_DEFAULTS, controlnet_unavailable
from genparams.names import checkpoint_titles, find_controlnet_model, find_controlnet_module
from sessions_app.custom_settings import custom_settings_to_params

SCRIPT_KEY = "controlnet"
UNIT_IMAGE_KEY = re.compile(r"^(image|mask)_(\d+)$")


def require_controlnet(catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog's ControlNet part, or 409: without the extension A1111 would run the job
    and ignore every unit."""
    if not catalog.get("controlnet"):
        raise controlnet_unavailable()
    return catalog["controlnet"]


def numbered_images(data: dict[str, Any]) -> dict[str, dict[int, Any]]:
    """``image_0``, ``mask_1``… from a request body, by kind and unit index."""
    found: dict[str, dict[int, Any]] = {"image": {}, "mask": {}}
    for key, value in data.items():
        match = UNIT_IMAGE_KEY.match(key)
        if match and value:
            found[match.group(1)][int(match.group(2))] = value
    return found


def merge_defaults(units: list[dict], defaults: list[dict]) -> list[dict]:
    """Each request unit over the session's (or preset's) config at the same position.

    The request decides how many units run; with no units at all, the saved configs are
    the units.
    """
    if not units:
        return [dict(d) for d in defaults]
    merged = []
    for index, unit in enumerate(units):
        base = dict(defaults[index]) if index < len(defaults) else {}
        if "module" in unit or "preprocessor" in unit:
            base.pop("module", None)
            base.pop("preprocessor", None)
        merged.append({**base, **unit})
    return merged


def _image_of(value: Any, field: str) -> tuple[CheckedImage, CheckedImage | None]:
    """A unit image: base64, or ``{"image": b64, "mask": b64}`` as the extension takes it."""
    if isinstance(value, dict):
        mask = value.get("mask")
        return check_image(value.get("image") or "", field), (
            check_image(mask, f"{field}.mask") if mask else None
        )
    if isinstance(value, list) and value:
        return _image_of(value[0], field)
    if not isinstance(value, str):
        raise ApiError(f"{field}: expected a base64 image.", code="invalid_image")
    return check_image(value, field), None


def attach_images(
    units: list[dict],
    shared: Any,
    numbered: dict[str, dict[int, Any]],
    has_init_image: bool,
) -> tuple[list[dict], dict[str, CheckedImage]]:
    """Give each unit its image: its own ``image``, else ``image_N``, else the shared one.

    A shared ``image`` sent as several files goes one per unit. Returns the units with
    checked base64 images and the images by field, for the job's record.
    """
    shared_list = shared if isinstance(shared, list) else None
    checked: dict[str, CheckedImage] = {}
    out = []
    for index, unit in enumerate(units):
        unit = dict(unit)
        source = unit.pop("image", None) or unit.pop("input_image", None)
        mask = unit.pop("mask", None) or unit.pop("mask_image", None)
        field = f"controlnet_units[{index}].image"
        if source is None and index in numbered["image"]:
            source, field = numbered["image"][index], f"image_{index}"
        if source is None and shared_list is not None and index < len(shared_list):
            source, field = shared_list[index], "image"
        elif source is None and shared_list is None and shared:
            source, field = shared, "image"
        if mask is None and index in numbered["mask"]:
            mask = numbered["mask"][index]
        if source is not None:
            image, inline_mask = _image_of(source, field)
            unit["image"] = image.b64
            checked[f"unit{index}.image"] = image
            mask_image = check_image(mask, f"mask_{index}") if mask else inline_mask
            if mask_image is not None:
                unit["mask"] = mask_image.b64
                checked[f"unit{index}.mask"] = mask_image
        elif unit.get("enabled", True) and not has_init_image:
            raise serializers.ValidationError(
                {
                    "controlnet_units": [
                        f"Unit {index} has no image. Upload `image` (shared), `image_{index}`, "
                        "or put base64 in the unit's `image`."
                    ]
                }
            )
        out.append(unit)
    return out, checked


def complete_unit(unit: dict, index: int, controlnet: dict[str, Any]) -> dict:
    """The unit exactly as the extension should get it: every field, string enums, the
    model's full listed name, and a model wherever the preprocessor needs one."""
    unit = {**CONTROLNET_UNIT_DEFAULTS, **unit}
    unit.pop("preprocessor", None)
    model = unit.get("model") or "None"
    if model != "None":
        unit["model"] = find_controlnet_model(model, controlnet.get("models") or []) or model
    # Forge lists no module_detail: then only "none" is known to need a model.
    details = controlnet.get("module_detail")
    model_free = bool(details and (details.get(unit["module"]) or {}).get("model_free"))
    needs_model = unit["module"] == "none" or (bool(details) and not model_free)
    if unit["enabled"] and needs_model and unit["model"] == "None":
        models = ", ".join(controlnet.get("models") or [])
        raise serializers.ValidationError(
            {
                "controlnet_units": [
                    f"Unit {index} ({unit['module']}) needs a `model`; A1111 would fail the job "
                    f"with 'You have not selected any ControlNet Model'. Valid: {models}."
                ]
            }
        )
    return unit


# --- model families (SD1.5 / SDXL) -------------------------------------------------------
def effective_checkpoint(kind: str, params: dict[str, Any], context: Any) -> str | None:
    """The checkpoint title the job will run on: the request's ``checkpoint`` merged over the
    preset's and the session's (as the payload builder merges them), else the one the
    backend has loaded."""
    catalog = context.catalog or {}
    preset = context.preset
    merged = merge_params(
        BuildInputs(
            kind=kind,
            request=params,
            defaults=context.defaults,
            custom_settings=custom_settings_to_params(context.session["custom_settings"]),
            preset_params=dict(preset.params) if preset is not None else {},
        )
    )
    checkpoint = merged.get("checkpoint")
    if checkpoint:
        return checkpoint_titles(catalog).get(checkpoint, checkpoint)
    return catalog.get("loaded_checkpoint")


def check_model_families(
    units: list[dict], checkpoint: str | None, catalog: dict[str, Any]
) -> None:
    """Refuse a unit whose ControlNet model is for another base model than the checkpoint.

    The extension finds the mismatch inside ``Script.process`` and A1111 swallows the error:
    the job would answer 200 with no unit applied. Unknown families on either side pass, as
    in the extension; so does a model for SD1.5 on SD2 (the extension only tells SDXL apart).
    """
    if not checkpoint:
        return
    entry = families.find_checkpoint(checkpoint, catalog.get("checkpoints") or [])
    base = families.checkpoint_family(entry)
    if base is None:
        return
    for index, unit in enumerate(units):
        if not unit.get("enabled", True):
            continue
        model = unit.get("model") or "None"
        module = str(unit.get("module") or "")
        if "revision" in module.lower() and base != families.SDXL:
            raise ApiError(
                f"Unit {index}: the {module!r} preprocessor works with SDXL checkpoints only, "
                f"and checkpoint {checkpoint!r} is {families.label(base)}; the ControlNet "
                "extension would skip every unit without an error.",
                code="controlnet_model_mismatch",
                unit=index,
                module=module,
                checkpoint=checkpoint,
                checkpoint_family=families.label(base),
            )
        if model == "None":
            continue
        family = families.controlnet_model_family(model)
        if families.compatible(family, base):
            continue
        fitting = [
            m
            for m in (catalog.get("controlnet") or {}).get("models") or []
            if families.controlnet_model_family(m) is not None
            and families.compatible(families.controlnet_model_family(m), base)
        ]
        hint = f" {families.label(base)} models: {', '.join(fitting)}." if fitting else ""
        raise ApiError(
            f"Unit {index}: ControlNet model {model!r} is for {families.label(family)}, but "
            f"checkpoint {checkpoint!r} is {families.label(base)}. The ControlNet extension "
            "would skip every unit without an error (A1111 answers 200 with no ControlNet "
            f"applied). Pick a model for {families.label(base)} or another checkpoint.{hint}",
            code="controlnet_model_mismatch",
            unit=index,
            model=model,
            model_family=families.label(family),
            checkpoint=checkpoint,
            checkpoint_family=families.label(base),
            compatible_models=fitting,
        )


# --- the preprocessor -----------------------------------------------------------------
def _controlnet_backend(catalog: dict[str, Any]):
    urls = [b["url"] for b in catalog.get("backends", []) if b.get("controlnet")]
    backend = Backend.objects.filter(enabled=True, url__in=urls).order_by("-healthy", "id").first()
    if backend is None:
        raise BackendUnavailable(
            "No reachable backend with ControlNet answered.", code="backend_unavailable"
        )
    return backend


def detect_body(
    data: dict[str, Any], images: list[CheckedImage], masks: list[CheckedImage]
) -> dict:
    """The ``POST /controlnet/detect`` body (its field names, -1 = the module's default)."""
    body: dict[str, Any] = {
        "controlnet_module": data["module"],
        "controlnet_input_images": [i.b64 for i in images],
        "controlnet_processor_res": data.get("processor_res", -1),
        "controlnet_threshold_a": data.get("threshold_a", -1),
        "controlnet_threshold_b": data.get("threshold_b", -1),
        "low_vram": data.get("low_vram", False),
    }
    if masks:
        body["controlnet_masks"] = [m.b64 for m in masks]
    return body


def preprocess(data: dict[str, Any], catalog: dict[str, Any]) -> dict[str, Any]:
    """Run a preprocessor now (the extension serves detect outside A1111's queue lock).

    Synchronous with a bounded timeout: a map is a preview a client waits for, not a job.
    """
    sources = data["images"]
    images = [check_image(v, f"images[{i}]") for i, v in enumerate(sources)]
    masks = [check_image(v, f"masks[{i}]") for i, v in enumerate(data.get("masks") or [])]
    backend = _controlnet_backend(catalog)
    client = client_for(backend, generation_timeout=settings.HUB_PREPROCESS_TIMEOUT)
    try:
        result = client.controlnet_detect(detect_body(data, images, masks))
    except A1111Error as exc:
        if exc.unreachable:
            raise BackendUnavailable(
                f"The backend at {backend.url} did not answer: {exc.message}",
                code="backend_unavailable",
            ) from None
        raise ApiError(
            f"The ControlNet preprocessor refused the request (HTTP {exc.status}): {exc.message}.",
            code="preprocess_failed",
            status_code=400 if exc.status == 422 else 502,
        ) from None
    finally:
        client.close()
    body = {
        "module": data["module"],
        "images": result.get("images") or [],
        "info": result.get("info") or "",
        "backend": backend.url,
    }
    if result.get("poses"):
        body["poses"] = result["poses"]
    return body


def check_module(name: str, extension: dict[str, Any]) -> str:
    """The module's listed name (matched case-insensitively), or 400 listing the valid ones."""
    modules = extension.get("modules") or []
    found = find_controlnet_module(name, modules, extension.get("module_labels"))
    if found is None:
        raise serializers.ValidationError(
            {"module": [f"Unknown ControlNet module {name!r}. Valid: {', '.join(modules)}."]}
        )
    return found


def modules_table(extension: dict[str, Any]) -> list[dict[str, Any]]:
    """Each module with whether it needs a model and its sliders (where the extension says)."""
    detail = extension.get("module_detail") or {}
    return [
        {
            "name": name,
            "model_free": bool((detail.get(name) or {}).get("model_free", False)),
            "sliders": (detail.get(name) or {}).get("sliders") or [],
        }
        for name in extension.get("modules") or []
    ]
