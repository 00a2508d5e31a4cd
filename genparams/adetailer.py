"""ADetailer (Bing-su/adetailer) tabs: checked like the extension checks them, translated
into its ``alwayson_scripts`` args. Pure: no I/O; the catalog is passed in.

The extension's args are ``[ad_enable, ad_skip_img2img, *one dict per tab]``
(``adetailer/ui.py`` ``adui``), each dict an ``ADetailerArgs`` (``adetailer/args.py``:
pydantic, ``extra=forbid``, bounded floats). A1111 swallows a tab that fails that check
(``ScriptRunner.process`` catches it) and an unknown ``ad_model`` (``postprocess_image``):
the picture comes back without ADetailer and nobody is told. So the hub refuses both.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

SCRIPT = "ADetailer"  # adetailer.AFTER_DETAILER, the alwayson_scripts key
DEFAULT_TABS = 2  # the ad_max_models option's default

# field -> (type, minimum, maximum), in ALL_ARGS order (adetailer/args.py)
FIELDS: dict[str, tuple[str, float | None, float | None]] = {
    "ad_model": ("str", None, None),
    "ad_model_classes": ("str", None, None),
    "ad_tap_enable": ("bool", None, None),
    "ad_prompt": ("str", None, None),
    "ad_negative_prompt": ("str", None, None),
    "ad_confidence": ("float", 0.0, 1.0),
    "ad_mask_k_largest": ("int", 0, None),
    "ad_mask_min_ratio": ("float", 0.0, 1.0),
    "ad_mask_max_ratio": ("float", 0.0, 1.0),
    "ad_x_offset": ("int", None, None),
    "ad_y_offset": ("int", None, None),
    "ad_dilate_erode": ("int", None, None),
    "ad_mask_merge_invert": ("choice", None, None),
    "ad_mask_blur": ("int", 0, None),
    "ad_denoising_strength": ("float", 0.0, 1.0),
    "ad_inpaint_only_masked": ("bool", None, None),
    "ad_inpaint_only_masked_padding": ("int", 0, None),
    "ad_use_inpaint_width_height": ("bool", None, None),
    "ad_inpaint_width": ("int", 1, None),
    "ad_inpaint_height": ("int", 1, None),
    "ad_use_steps": ("bool", None, None),
    "ad_steps": ("int", 1, None),
    "ad_use_cfg_scale": ("bool", None, None),
    "ad_cfg_scale": ("float", 0.0, None),
    "ad_use_checkpoint": ("bool", None, None),
    "ad_checkpoint": ("str", None, None),
    "ad_use_vae": ("bool", None, None),
    "ad_vae": ("str", None, None),
    "ad_use_sampler": ("bool", None, None),
    "ad_sampler": ("str", None, None),
    "ad_scheduler": ("str", None, None),
    "ad_use_noise_multiplier": ("bool", None, None),
    "ad_noise_multiplier": ("float", 0.5, 1.5),
    "ad_use_clip_skip": ("bool", None, None),
    "ad_clip_skip": ("int", 1, 12),
    "ad_restore_face": ("bool", None, None),
    "ad_controlnet_model": ("str", None, None),
    "ad_controlnet_module": ("str", None, None),
    "ad_controlnet_weight": ("float", 0.0, 1.0),
    "ad_controlnet_guidance_start": ("float", 0.0, 1.0),
    "ad_controlnet_guidance_end": ("float", 0.0, 1.0),
}
MASK_MERGE_INVERT = ("None", "Merge", "Merge and Invert")


def _value(key: str, value: Any) -> Any:
    type_, low, high = FIELDS[key]
    if type_ == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if type_ in ("str", "choice"):
        if not isinstance(value, str) or len(value) > 2000:
            raise ValueError("must be a string (at most 2000 characters)")
        if type_ == "choice" and value not in MASK_MERGE_INVERT:
            raise ValueError(f"must be one of {', '.join(MASK_MERGE_INVERT)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number ({type_})")
    if type_ == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("must be a whole number")
        value = int(value)
    else:
        value = float(value)
    if low is not None and value < low:
        raise ValueError(f"must be at least {low}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high}")
    return value


def validate_tabs(tabs: Any, available: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Check the ``adetailer`` field; ``available`` is the catalog's ``adetailer`` entry
    ({version, models, tabs}) or None when it is unknown (no backend answered: not checked).
    Raises serializers.ValidationError with the field's messages."""
    if not isinstance(tabs, list) or not all(isinstance(t, dict) for t in tabs):
        raise serializers.ValidationError("A list of ADetailer tabs (objects with ad_model …).")
    limit = int((available or {}).get("tabs") or DEFAULT_TABS)
    if len(tabs) > limit:
        raise serializers.ValidationError(
            f"At most {limit} ADetailer tabs (the extension's ad_max_models); A1111 drops the rest."
        )
    models = (available or {}).get("models")
    errors: list[str] = []
    out = []
    for n, tab in enumerate(tabs, 1):
        clean: dict[str, Any] = {}
        for key, value in tab.items():
            if key not in FIELDS:
                errors.append(f"Tab {n}: unknown field {key!r}. Known: {', '.join(FIELDS)}.")
                continue
            try:
                clean[key] = _value(key, value)
            except ValueError as exc:
                errors.append(f"Tab {n}: {key} {exc}.")
        model = clean.get("ad_model")
        if not model or model == "None":
            errors.append(f"Tab {n}: ad_model is required (a detector from GET /models adetailer).")
        elif models is not None and model not in models:
            errors.append(f"Tab {n}: unknown ad_model {model!r}. Valid: {', '.join(models)}.")
        out.append(clean)
    if errors:
        raise serializers.ValidationError(errors)
    return out


def script_args(tabs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``alwayson_scripts`` entry: ``[ad_enable, ad_skip_img2img, *tabs]``."""
    return {SCRIPT: {"args": [True, False, *[dict(t) for t in tabs]]}}
