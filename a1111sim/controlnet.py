"""ControlNet (Mikubill/sd-webui-controlnet v1.1.455): preprocessors, unit checks, detect.

Unit dicts are checked the way the extension's pydantic v1 ``ControlNetUnit`` model does;
a failure is a 500 ``ValidationError`` whose ``errors`` text is pydantic's. Model names are
resolved at generation time: exact key, then case-insensitive stem, then the shortest
case-insensitive substring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .validation import ApiError, FieldInvalid, coerce, runtime_error

_RES = {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}


def _load_modules() -> dict[str, tuple[str, bool, list[dict[str, Any]], list[str]]]:
    """The extension's 72 preprocessors as a real v1.1.455 lists them (controlnet_modules.json):
    name -> (label, model_free, sliders, control types), in its order."""
    data = json.loads(Path(__file__).with_name("controlnet_modules.json").read_text("utf-8"))
    return {
        m["name"]: (m["label"], m["model_free"], m["sliders"], m["types"]) for m in data["modules"]
    }


# name -> (label, model_free, sliders, control types). A unit or /detect may name a module by
# its name or its label (Preprocessor.get_preprocessor); module_list answers names, or labels
# with alias_names.
MODULES = _load_modules()
LABEL_TO_MODULE = {label: name for name, (label, *_rest) in MODULES.items()}
DETECT_UNSUPPORTED = (
    "clip_vision",
    "revision_clipvision",
    "revision_ignore_prompt",
    "ip-adapter-auto",
)
MULTI_INPUT = ("ip-adapter-auto", "ip-adapter_clip_sd15", "ip-adapter_clip_sdxl")

RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
RESIZE_ALIASES = {
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Outer Fit (Shrink to Fit)": "Resize and Fill",
    "Scale to Fit (Inner Fit)": "Crop and Resize",
    "Envelope (Outer Fit)": "Resize and Fill",
}
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
HR_OPTIONS = ("Both", "Low res only", "High res only")
PULID_MODES = ("Fidelity", "Extremely style")


def resolve_module(name: Any) -> str | None:
    """Preprocessor.get_preprocessor: by internal name or UI label."""
    if not isinstance(name, str):
        return None
    if name in MODULES:
        return name
    return LABEL_TO_MODULE.get(name)


def module_list(alias_names: bool) -> dict[str, Any]:
    names = [MODULES[m][0] if alias_names else m for m in MODULES]
    detail = {
        (MODULES[m][0] if alias_names else m): {"model_free": free, "sliders": sliders}
        for m, (_label, free, sliders, _t) in MODULES.items()
    }
    return {"module_list": names, "module_detail": detail}


# control type -> the word its models' names carry (the extension's filter)
_TYPE_KEYWORDS = {
    "Canny": "canny", "Depth": "depth", "IP-Adapter": "ip-adapter", "Inpaint": "inpaint",
    "Instant-ID": "instant_id", "InstructP2P": "ip2p", "Lineart": "lineart", "MLSD": "mlsd",
    "NormalMap": "normal", "OpenPose": "openpose", "Recolor": "recolor",
    "Reference": "reference", "Revision": "revision", "Scribble": "scribble",
    "Segmentation": "seg", "Shuffle": "shuffle", "SoftEdge": "softedge",
    "SparseCtrl": "sparsectrl", "T2I-Adapter": "t2iadapter", "Tile": "tile",
}  # fmt: skip


def control_types(models: list[str]) -> dict[str, Any]:
    """/controlnet/control_types: per type, its preprocessors' labels and fitting models."""
    types: dict[str, Any] = {
        "All": {
            "module_list": [label for label, *_rest in MODULES.values()],
            "model_list": ["None", *models],
            "default_option": "none",
            "default_model": "None",
        }
    }
    for type_name, key in _TYPE_KEYWORDS.items():
        modules = ["none"] + [
            label for name, (label, _f, _s, kinds) in MODULES.items()
            if name != "none" and type_name in kinds
        ]  # fmt: skip
        type_models = ["None", *[m for m in models if key in m.lower()]]
        types[type_name] = {
            "module_list": modules,
            "model_list": type_models,
            "default_option": modules[1] if len(modules) > 1 else "none",
            "default_model": type_models[1] if len(type_models) > 1 else "None",
        }
    return types


def find_model(name: str, models: list[str]) -> str | None:
    """The extension's model lookup: exact key, case-insensitive stem, shortest substring."""
    if name in models:
        return name
    stems = {m.rsplit(" [", 1)[0].lower(): m for m in models}
    search = name.lower()
    if search in stems:
        return stems[search]
    hits = sorted((s for s in stems if search in s), key=len)
    return stems[hits[0]] if hits else None


def model_sd_version(name: str) -> str | None:
    """enums.StableDiffusionVersion.detect_from_model_name (None = unknown, never checked)."""
    if any(f"sd{v}" in name.lower() for v in ("14", "15", "16")):
        return "sd1"
    if "sd21" in name or "2.1" in name:
        return "sd2"
    if "xl" in name.lower():
        return "sdxl"
    return None


def versions_compatible(a: str | None, b: str | None) -> bool:
    """StableDiffusionVersion.is_compatible_with: incompatible only when exactly one is SDXL."""
    return a is None or b is None or (a == "sdxl") == (b == "sdxl")


@dataclass
class Unit:
    enabled: bool
    module: str
    model: str
    weight: float
    image: Any
    mask: Any
    resize_mode: str
    processor_res: int
    threshold_a: float
    threshold_b: float
    guidance_start: float
    guidance_end: float
    pixel_perfect: bool
    control_mode: str
    hr_option: str
    save_detected_map: bool


_FIELDS: list[tuple[str, str, Any]] = [
    ("enabled", "bool", False),
    ("module", "module", "none"),
    ("model", "str", "None"),
    ("weight", "float", 1.0),
    ("resize_mode", "resize", "Crop and Resize"),
    ("low_vram", "bool", False),
    ("processor_res", "int", -1),
    ("threshold_a", "float", -1),
    ("threshold_b", "float", -1),
    ("guidance_start", "float", 0.0),
    ("guidance_end", "float", 1.0),
    ("pixel_perfect", "bool", False),
    ("control_mode", CONTROL_MODES, "Balanced"),
    ("inpaint_crop_input_image", "bool", True),
    ("hr_option", HR_OPTIONS, "Both"),
    ("save_detected_map", "bool", True),
    ("advanced_weighting", "list", None),
    ("pulid_mode", PULID_MODES, "Fidelity"),
]
_BOUNDS = {"weight": (0.0, 2.0), "guidance_start": (0.0, 1.0), "guidance_end": (0.0, 1.0)}


def _pydantic_text(errors: list[tuple[str, str, str]]) -> str:
    """pydantic v1 error_wrappers.display_errors: '(type=...; ctx_key=value)'."""
    n = len(errors)
    lines = [f"{n} validation error{'s' if n > 1 else ''} for ControlNetUnit"]
    for loc, msg, typ in errors:
        lines += [loc, f"  {msg} (type={typ})"]
    return "\n".join(lines)


# The Enum classes behind the string choices (scripts/enums.py), for pydantic's enum_values ctx.
_ENUM_REPR = {
    CONTROL_MODES: ("ControlMode", ("BALANCED", "PROMPT", "CONTROL")),
    HR_OPTIONS: ("HiResFixOption", ("BOTH", "LOW_RES_ONLY", "HIGH_RES_ONLY")),
    PULID_MODES: ("PuLIDMode", ("FIDELITY", "STYLE")),
}


def _check_field(name: str, kind: Any, value: Any) -> Any:
    if kind == "module":
        if resolve_module(value) is None:
            raise FieldInvalid(f"module({value}) not found in supported modules.", "value_error")
        return value
    if kind == "resize":
        if not isinstance(value, str):
            raise FieldInvalid("", "assertion_error")
        value = RESIZE_ALIASES.get(value, value)
        if value not in RESIZE_MODES:
            raise FieldInvalid(f"'{value}' is not a valid ResizeMode", "value_error")
        return value
    if isinstance(kind, tuple):
        if value not in kind:
            permitted = ", ".join(f"'{v}'" for v in kind)
            cls, members = _ENUM_REPR[kind]
            values = ", ".join(f"<{cls}.{m}: {v!r}>" for m, v in zip(members, kind, strict=True))
            raise FieldInvalid(
                f"value is not a valid enumeration member; permitted: {permitted}",
                f"type_error.enum; enum_values=[{values}]",
            )
        return value
    value = coerce(value, kind)
    if name in _BOUNDS:
        lo, hi = _BOUNDS[name]
        if value < lo:
            raise FieldInvalid(
                f"ensure this value is greater than or equal to {lo}",
                f"value_error.number.not_ge; limit_value={lo}",
            )
        if value > hi:
            raise FieldInvalid(
                f"ensure this value is less than or equal to {hi}",
                f"value_error.number.not_le; limit_value={hi}",
            )
    return value


def parse_unit(raw: dict[str, Any]) -> Unit:
    """ControlNetUnit.from_dict: legacy aliases, field checks, root checks."""
    values = dict(raw)
    errors: list[tuple[str, str, str]] = []
    for alias, key in (
        ("guidance", "guidance_end"),
        ("lowvram", "low_vram"),
        ("input_image", "image"),
    ):
        if alias in values:
            if key in values:
                raise runtime_error(f"Conflict of field '{alias}' and '{key}'", "AssertionError")
            values[key] = values[alias]
    if values.get("mask_image") is not None:
        if values.get("mask") is not None:
            raise runtime_error("Cannot specify both 'mask' and 'mask_image'!", "ValueError")
        values["mask"] = values["mask_image"]
    parsed: dict[str, Any] = {}
    for name, kind, default in _FIELDS:
        value = values.get(name, default)
        if value is None and name != "module":
            parsed[name] = None
            continue
        try:
            parsed[name] = _check_field(name, kind, value)
        except FieldInvalid as exc:
            errors.append((name, exc.msg, exc.type))
    if not errors and parsed["guidance_start"] > parsed["guidance_end"]:
        errors.append(
            (
                "__root__",
                f"guidance_start({parsed['guidance_start']}) > guidance_end({parsed['guidance_end']})",
                "value_error",
            )
        )
    if errors:
        raise ApiError(500, "ValidationError", "", _pydantic_text(errors))
    module = resolve_module(parsed["module"]) or "none"
    if parsed["enabled"]:
        _bound_sliders(parsed, module)
    image = values.get("image")
    return Unit(
        enabled=bool(parsed["enabled"]),
        module=module,
        model=parsed["model"] if parsed["model"] is not None else "None",
        weight=parsed["weight"],
        image=None if image in ("", None) else image,
        mask=values.get("mask") or None,
        resize_mode=parsed["resize_mode"],
        processor_res=parsed["processor_res"],
        threshold_a=parsed["threshold_a"],
        threshold_b=parsed["threshold_b"],
        guidance_start=parsed["guidance_start"],
        guidance_end=parsed["guidance_end"],
        pixel_perfect=bool(parsed["pixel_perfect"]),
        control_mode=parsed["control_mode"],
        hr_option=parsed["hr_option"],
        save_detected_map=parsed["save_detected_map"] is not False,
    )


def _bound_sliders(parsed: dict[str, Any], module: str) -> None:
    """Out-of-range processor_res/threshold values (incl. -1) become the module defaults."""
    sliders = {s["name"]: s for s in MODULES[module][2]}
    ordered = list(sliders.values())
    res = next((s for s in ordered if s["name"] == "Resolution"), _RES)
    thresholds = [s for s in ordered if s["name"] != "Resolution"] + [None, None]
    for key, cfg in (
        ("processor_res", res),
        ("threshold_a", thresholds[0]),
        ("threshold_b", thresholds[1]),
    ):
        lo, hi, default = (cfg["min"], cfg["max"], cfg["value"]) if cfg else (64, 1024, 64)
        value = parsed[key]
        if value is None or value < lo or value > hi:
            parsed[key] = default


def infotext(unit: Unit) -> str:
    """The 'ControlNet N' extra_generation_params value."""
    return (
        f"Module: {unit.module}, Model: {unit.model}, Weight: {unit.weight}, "
        f"Resize Mode: {unit.resize_mode}, Processor Res: {unit.processor_res}, "
        f"Threshold A: {unit.threshold_a}, Threshold B: {unit.threshold_b}, "
        f"Guidance Start: {unit.guidance_start}, Guidance End: {unit.guidance_end}, "
        f"Pixel Perfect: {unit.pixel_perfect}, Control Mode: {unit.control_mode}"
    )
