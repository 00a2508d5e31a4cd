"""ControlNet unit rules (Mikubill/sd-webui-controlnet v1.1.455, ``external_code.py``
``ControlNetUnit``): fields, the extension's defaults, and unit checks for sessions, presets
and generation requests alike."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.errors import Conflict
from core.serializers import OptionalBooleanField
from genparams.names import (
    Catalog,
    find_controlnet_model,
    find_controlnet_module,
    load_catalog,
    unknown_name,
)

RESIZE_MODES = ["Just Resize", "Crop and Resize", "Resize and Fill"]
LEGACY_RESIZE_MODES = {
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Envelope (Outer Fit)": "Resize and Fill",
}
CONTROL_MODES = ["Balanced", "My prompt is more important", "ControlNet is more important"]
HR_OPTIONS = ["Both", "Low res only", "High res only"]
IMAGE_KEYS = ("image", "mask", "input_image", "mask_image")

# The extension's defaults (external_code.ControlNetUnit), for the payload builder, so a
# unit reaches A1111 complete. Except `enabled`: the extension says False, but a unit a
# user configured (the README's session shows none with `enabled`) is meant to run.
CONTROLNET_UNIT_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "module": "none",
    "model": "None",
    "weight": 1.0,
    "resize_mode": "Crop and Resize",
    "processor_res": -1,
    "threshold_a": -1,
    "threshold_b": -1,
    "guidance_start": 0.0,
    "guidance_end": 1.0,
    "pixel_perfect": False,
    "low_vram": False,
    "control_mode": "Balanced",
}


class NamedChoiceField(serializers.Field):
    """One of the extension's string choices, also given as its index (0, 1, 2 or "1").

    The extension rejects integers, and clients (and A1111's own older API) send them.
    """

    def __init__(self, choices: list[str], legacy: dict[str, str] | None = None, **kwargs):
        self.choices = choices
        self.legacy = legacy or {}
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str) and data in self.choices:
            return data
        if isinstance(data, str) and data in self.legacy:
            return self.legacy[data]
        if isinstance(data, int | str) and not isinstance(data, bool):
            try:
                index = int(data)
            except ValueError:
                index = -1
            if 0 <= index < len(self.choices):
                return self.choices[index]
        options = ", ".join(f"{i} or {c!r}" for i, c in enumerate(self.choices))
        raise serializers.ValidationError(f"Unknown value {data!r}. Valid: {options}.")

    def to_representation(self, value: str) -> str:
        return value


class ControlNetUnitSerializer(serializers.Serializer):
    """One ControlNet unit's settings; the README's ``preprocessor`` is ``module``'s alias."""

    enabled = OptionalBooleanField(required=False)
    module = serializers.CharField(required=False, help_text='Preprocessor, e.g. "openpose_full".')
    preprocessor = serializers.CharField(required=False, help_text="Alias of module.")
    model = serializers.CharField(required=False, help_text='e.g. "control_openpose-fp16".')
    weight = serializers.FloatField(required=False, min_value=0, max_value=2)
    resize_mode = NamedChoiceField(RESIZE_MODES, LEGACY_RESIZE_MODES, required=False)
    control_mode = NamedChoiceField(CONTROL_MODES, required=False)
    processor_res = serializers.IntegerField(required=False, min_value=-1, max_value=4096)
    threshold_a = serializers.FloatField(required=False)
    threshold_b = serializers.FloatField(required=False)
    guidance_start = serializers.FloatField(required=False, min_value=0, max_value=1)
    guidance_end = serializers.FloatField(required=False, min_value=0, max_value=1)
    pixel_perfect = OptionalBooleanField(required=False)
    low_vram = OptionalBooleanField(required=False)
    hr_option = serializers.ChoiceField(HR_OPTIONS, required=False)
    save_detected_map = OptionalBooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        module, alias = attrs.get("module"), attrs.get("preprocessor")
        if module and alias and module != alias:
            errors["preprocessor"] = ["An alias of module; send one, or the same value in both."]
        if attrs.get("guidance_start", 0) > attrs.get("guidance_end", 1):
            errors["guidance_start"] = ["Must not be after guidance_end."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


CONTROLNET_UNIT_FIELDS = tuple(ControlNetUnitSerializer().fields)


def controlnet_unavailable() -> Conflict:
    return Conflict(
        "No backend has the ControlNet extension (Mikubill/sd-webui-controlnet), so ControlNet "
        "cannot be used. Install it in A1111 and restart it; GET /models shows each backend's "
        "extensions.",
        code="controlnet_unavailable",
    )


def check_unit_count(
    count: int, controlnet: dict[str, Any], field: str | None = "controlnet_units"
) -> None:
    """The extension silently ignores units beyond control_net_unit_count: refuse them."""
    limit = int(controlnet.get("unit_count") or 10)  # unknown: the extension's own maximum
    if count > limit:
        message = [
            f"{count} units given; the backend runs at most {limit} "
            "(control_net_unit_count) and would silently ignore the rest."
        ]
        raise serializers.ValidationError({field: message} if field else message)


def _check_unit_names(unit: dict[str, Any], controlnet: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    modules = controlnet.get("modules") or []
    module = unit.get("module")
    if module:
        canonical = find_controlnet_module(module, modules, controlnet.get("module_labels"))
        if canonical is None:
            key = "preprocessor" if "preprocessor" in unit else "module"
            errors[key] = [unknown_name("ControlNet module", module, modules)]
        else:
            unit["module"] = canonical
    model = unit.get("model")
    if model and model != "None":
        models = controlnet.get("models") or []
        if find_controlnet_model(model, models) is None:
            errors["model"] = [unknown_name("ControlNet model", model, ["None", *models])]
    return errors


def validate_controlnet_unit(
    unit: dict, *, catalog: Catalog | None = None, allow_images: bool = False
) -> dict:
    """Check one ControlNet unit and return it normalised, keeping the keys sent.

    ``preprocessor`` stays as given and ``module`` is set from it; ``resize_mode`` and
    ``control_mode`` become the extension's string names. Defaults are not filled in
    (``CONTROLNET_UNIT_DEFAULTS`` is for the payload builder). Image keys pass through
    untouched when ``allow_images`` (a generation request); a session or preset keeps
    settings only. A catalog whose backends lack ControlNet is a 409.
    """
    if not isinstance(unit, dict):
        raise serializers.ValidationError({"non_field_errors": ["A unit must be an object."]})
    allowed = CONTROLNET_UNIT_FIELDS + (IMAGE_KEYS if allow_images else ())
    unknown = [key for key in unit if key not in allowed]
    if unknown:
        hint = "" if allow_images else " Images go with the generation request, not here."
        raise serializers.ValidationError(
            {key: [f"Unknown unit field. Known: {', '.join(allowed)}.{hint}"] for key in unknown}
        )
    serializer = ControlNetUnitSerializer(
        data={k: v for k, v in unit.items() if k not in IMAGE_KEYS}
    )
    serializer.is_valid(raise_exception=True)
    cleaned = dict(serializer.validated_data)
    if "preprocessor" in cleaned and "module" not in cleaned:
        cleaned["module"] = cleaned["preprocessor"]
    if cleaned.get("module") or cleaned.get("model"):
        if catalog is None:
            catalog = load_catalog() or {}
        if "controlnet" in catalog:
            if catalog["controlnet"] is None:
                raise controlnet_unavailable()
            errors = _check_unit_names(cleaned, catalog["controlnet"])
            if errors:
                raise serializers.ValidationError(errors)
    cleaned.update({k: unit[k] for k in IMAGE_KEYS if k in unit and allow_images})
    return cleaned


def validate_controlnet_units(
    units: list,
    *,
    catalog: Catalog | None = None,
    allow_images: bool = False,
    field: str = "controlnet_units",
) -> list[dict]:
    """Check a list of units; errors come back under ``field``, per position as DRF lists them.

    More units than the backend's ``control_net_unit_count`` are refused: the extension
    would silently ignore the extra ones.
    """
    try:
        return _validate_units(units, catalog=catalog, allow_images=allow_images)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({field: exc.detail}) from None


def _validate_units(units: list, *, catalog: Catalog | None, allow_images: bool) -> list[dict]:
    if not isinstance(units, list):
        raise serializers.ValidationError(["Expected a list of ControlNet units."])
    if units and catalog is None:
        catalog = load_catalog() or {}
    check_unit_count(len(units), (catalog or {}).get("controlnet") or {}, field=None)
    cleaned, errors, failed = [], [], False
    for unit in units:
        try:
            cleaned.append(
                validate_controlnet_unit(unit, catalog=catalog, allow_images=allow_images)
            )
            errors.append({})
        except serializers.ValidationError as exc:
            errors.append(exc.detail)
            failed = True
    if failed:
        raise serializers.ValidationError(errors)
    return cleaned
