"""The ADetailer extension (Bing-su/adetailer), as the API sees it.

Routes: ``/adetailer/v1/version``, ``/adetailer/v1/ad_model``, ``/adetailer/v1/schema``
(``scripts/!adetailer.py`` ``add_api_endpoints``). As an always-on script its args are
``[ad_enable, ad_skip_img2img, *one dict per tab]`` (``adetailer/ui.py`` ``adui``): as many
dicts as the ``ad_max_models`` option (default 2) when the UI was built. Each dict is checked
by ``adetailer/args.py`` ``ADetailerArgs`` (pydantic, ``extra=forbid``); a failure raises inside
``Script.process``, which A1111's ``ScriptRunner.process`` catches: 200, no ADetailer.
"""

from __future__ import annotations

from typing import Any

VERSION = "24.11.1"
TITLE = "ADetailer"  # adetailer.AFTER_DETAILER; the script name is its lower case
MAX_MODELS = 2  # ad_max_models default, read in Script.ui

# adetailer/common.py get_models: the Hugging Face set, then the mediapipe ones
MODELS = [
    "face_yolov8n.pt",
    "face_yolov8s.pt",
    "hand_yolov8n.pt",
    "person_yolov8n-seg.pt",
    "person_yolov8s-seg.pt",
    "yolov8x-worldv2.pt",
    "mediapipe_face_full",
    "mediapipe_face_short",
    "mediapipe_face_mesh",
    "mediapipe_face_mesh_eyes_only",
]

# (attr, infotext name, type, default, (ge, le)) in ALL_ARGS order (adetailer/args.py)
ARGS: list[tuple[str, str, str, Any, tuple[float | None, float | None]]] = [
    ("ad_model", "ADetailer model", "str", "None", (None, None)),
    ("ad_model_classes", "ADetailer model classes", "str", "", (None, None)),
    ("ad_tap_enable", "ADetailer tap enable", "bool", True, (None, None)),
    ("ad_prompt", "ADetailer prompt", "str", "", (None, None)),
    ("ad_negative_prompt", "ADetailer negative prompt", "str", "", (None, None)),
    ("ad_confidence", "ADetailer confidence", "float", 0.3, (0.0, 1.0)),
    ("ad_mask_k_largest", "ADetailer mask only top k largest", "int", 0, (0, None)),
    ("ad_mask_min_ratio", "ADetailer mask min ratio", "float", 0.0, (0.0, 1.0)),
    ("ad_mask_max_ratio", "ADetailer mask max ratio", "float", 1.0, (0.0, 1.0)),
    ("ad_x_offset", "ADetailer x offset", "int", 0, (None, None)),
    ("ad_y_offset", "ADetailer y offset", "int", 0, (None, None)),
    ("ad_dilate_erode", "ADetailer dilate erode", "int", 4, (None, None)),
    ("ad_mask_merge_invert", "ADetailer mask merge invert", "merge", "None", (None, None)),
    ("ad_mask_blur", "ADetailer mask blur", "int", 4, (0, None)),
    ("ad_denoising_strength", "ADetailer denoising strength", "float", 0.4, (0.0, 1.0)),
    ("ad_inpaint_only_masked", "ADetailer inpaint only masked", "bool", True, (None, None)),
    ("ad_inpaint_only_masked_padding", "ADetailer inpaint padding", "int", 32, (0, None)),
    ("ad_use_inpaint_width_height", "ADetailer use inpaint width height", "bool", False, (None, None)),
    ("ad_inpaint_width", "ADetailer inpaint width", "int", 512, (1, None)),
    ("ad_inpaint_height", "ADetailer inpaint height", "int", 512, (1, None)),
    ("ad_use_steps", "ADetailer use separate steps", "bool", False, (None, None)),
    ("ad_steps", "ADetailer steps", "int", 28, (1, None)),
    ("ad_use_cfg_scale", "ADetailer use separate CFG scale", "bool", False, (None, None)),
    ("ad_cfg_scale", "ADetailer CFG scale", "float", 7.0, (0.0, None)),
    ("ad_use_checkpoint", "ADetailer use separate checkpoint", "bool", False, (None, None)),
    ("ad_checkpoint", "ADetailer checkpoint", "optstr", None, (None, None)),
    ("ad_use_vae", "ADetailer use separate VAE", "bool", False, (None, None)),
    ("ad_vae", "ADetailer VAE", "optstr", None, (None, None)),
    ("ad_use_sampler", "ADetailer use separate sampler", "bool", False, (None, None)),
    ("ad_sampler", "ADetailer sampler", "str", "DPM++ 2M Karras", (None, None)),
    ("ad_scheduler", "ADetailer scheduler", "str", "Use same scheduler", (None, None)),
    ("ad_use_noise_multiplier", "ADetailer use separate noise multiplier", "bool", False, (None, None)),
    ("ad_noise_multiplier", "ADetailer noise multiplier", "float", 1.0, (0.5, 1.5)),
    ("ad_use_clip_skip", "ADetailer use separate CLIP skip", "bool", False, (None, None)),
    ("ad_clip_skip", "ADetailer CLIP skip", "int", 1, (1, 12)),
    ("ad_restore_face", "ADetailer restore face", "bool", False, (None, None)),
    ("ad_controlnet_model", "ADetailer ControlNet model", "str", "None", (None, None)),
    ("ad_controlnet_module", "ADetailer ControlNet module", "str", "None", (None, None)),
    ("ad_controlnet_weight", "ADetailer ControlNet weight", "float", 1.0, (0.0, 1.0)),
    ("ad_controlnet_guidance_start", "ADetailer ControlNet guidance start", "float", 0.0, (0.0, 1.0)),
    ("ad_controlnet_guidance_end", "ADetailer ControlNet guidance end", "float", 1.0, (0.0, 1.0)),
]  # fmt: skip
_FIELDS = {a[0]: a for a in ARGS}
MERGE_INVERT = ["None", "Merge", "Merge and Invert"]
_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_FALSE = {0, "0", "off", "f", "false", "n", "no"}


class ArgsInvalid(ValueError):
    pass


def _coerce(name: str, type_: str, value: Any, rng: tuple[float | None, float | None]) -> Any:
    """pydantic v1 coercion for one ADetailerArgs field; ArgsInvalid when it fails."""
    if type_ == "bool":
        if isinstance(value, bool):
            return value
        key = value.lower() if isinstance(value, str) else value
        if isinstance(key, (str, int, float)) and key in _TRUE:
            return True
        if isinstance(key, (str, int, float)) and key in _FALSE:
            return False
        raise ArgsInvalid(f"{name}: value could not be parsed to a boolean")
    if type_ in ("str", "optstr", "merge"):
        if value is None and type_ == "optstr":
            return None
        if not isinstance(value, (str, int, float)):
            raise ArgsInvalid(f"{name}: str type expected")
        value = str(value)
        if type_ == "merge" and value not in MERGE_INVERT:
            raise ArgsInvalid(f"{name}: unexpected value; permitted: {MERGE_INVERT}")
        return value
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        value = int(value) if type_ == "int" else float(value)
        if type_ == "int" and isinstance(value, float):
            value = int(value)
    except (TypeError, ValueError):
        raise ArgsInvalid(f"{name}: value is not a valid {type_}") from None
    low, high = rng
    if low is not None and value < low:
        raise ArgsInvalid(f"{name}: ensure this value is greater than or equal to {low}")
    if high is not None and value > high:
        raise ArgsInvalid(f"{name}: ensure this value is less than or equal to {high}")
    return value


def validate(arg: dict[str, Any]) -> dict[str, Any]:
    """ADetailerArgs(**arg): defaults applied; unknown keys are refused (extra=forbid)."""
    out: dict[str, Any] = {}
    for key in arg:
        if key not in _FIELDS and key != "is_api":
            raise ArgsInvalid(f"{key}: extra fields not permitted")
    for attr, _, type_, default, rng in ARGS:
        out[attr] = _coerce(attr, type_, arg[attr], rng) if attr in arg else default
    return out


def is_enabled(args: list[Any]) -> bool:
    """AfterDetailerScript.is_ad_enabled."""
    dicts = [a for a in args if isinstance(a, dict)]
    if not args or not dicts:
        return False
    enabled = args[0] if isinstance(args[0], bool) else True
    return bool(enabled) and any(d.get("ad_model", "None") != "None" for d in dicts)


def ordinal(n: int) -> str:
    """adetailer/ui.py ordinal."""
    d = {1: "st", 2: "nd", 3: "rd"}
    return str(n) + ("th" if 11 <= n % 100 <= 13 else d.get(n % 10, "th"))


def suffix(n: int) -> str:
    return f" {ordinal(n + 1)}" if n else ""


def extra_params(parsed: dict[str, Any], n: int) -> dict[str, Any]:
    """ADetailerArgs.extra_params: every arg by its infotext name, defaults dropped."""
    if parsed["ad_model"] == "None" or parsed["ad_tap_enable"] is False:
        return {}
    p = {name: parsed[attr] for attr, name, *_ in ARGS}

    def ppop(key: str, pops: list[str] | None = None, cond: Any = None) -> None:
        if key not in p:
            return
        value = p[key]
        hit = (not bool(value)) if cond is None else value == cond
        if hit:
            for k in pops or [key]:
                p.pop(k, None)

    ppop("ADetailer model classes")
    ppop("ADetailer prompt")
    ppop("ADetailer negative prompt")
    p.pop("ADetailer tap enable", None)
    ppop("ADetailer mask only top k largest", cond=0)
    ppop("ADetailer mask min ratio", cond=0.0)
    ppop("ADetailer mask max ratio", cond=1.0)
    ppop("ADetailer x offset", cond=0)
    ppop("ADetailer y offset", cond=0)
    ppop("ADetailer mask merge invert", cond="None")
    ppop("ADetailer inpaint only masked", ["ADetailer inpaint padding"])
    for flag, rest in (
        ("ADetailer use inpaint width height", ["ADetailer inpaint width", "ADetailer inpaint height"]),
        ("ADetailer use separate steps", ["ADetailer steps"]),
        ("ADetailer use separate CFG scale", ["ADetailer CFG scale"]),
        ("ADetailer use separate checkpoint", ["ADetailer checkpoint"]),
        ("ADetailer use separate VAE", ["ADetailer VAE"]),
        ("ADetailer use separate sampler", ["ADetailer sampler", "ADetailer scheduler"]),
    ):  # fmt: skip
        ppop(flag, [flag, *rest])
    ppop("ADetailer scheduler", cond="Use same scheduler")
    ppop("ADetailer use separate noise multiplier",
         ["ADetailer use separate noise multiplier", "ADetailer noise multiplier"])  # fmt: skip
    ppop("ADetailer use separate CLIP skip",
         ["ADetailer use separate CLIP skip", "ADetailer CLIP skip"])  # fmt: skip
    ppop("ADetailer restore face")
    ppop("ADetailer ControlNet model",
         ["ADetailer ControlNet model", "ADetailer ControlNet module", "ADetailer ControlNet weight",
          "ADetailer ControlNet guidance start", "ADetailer ControlNet guidance end"],
         cond="None")  # fmt: skip
    ppop("ADetailer ControlNet module", cond="None")
    ppop("ADetailer ControlNet weight", cond=1.0)
    ppop("ADetailer ControlNet guidance start", cond=0.0)
    ppop("ADetailer ControlNet guidance end", cond=1.0)
    sfx = suffix(n)
    return {k + sfx: v for k, v in p.items()}


def process(args: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Script.process: (extra params, parsed tabs); raises ArgsInvalid like get_args."""
    if not is_enabled(args):
        return {}, []
    parsed = [validate(a) for a in args if isinstance(a, dict)]
    if not parsed:
        raise ArgsInvalid("Invalid arguments passed to ADetailer")
    params: dict[str, Any] = {}
    for n, tab in enumerate(parsed):
        params.update(extra_params(tab, n))
    params["ADetailer version"] = VERSION
    return params, parsed


def schema() -> dict[str, Any]:
    types = {"str": "string", "optstr": "string", "merge": "string", "bool": "boolean",
             "int": "integer", "float": "number"}  # fmt: skip
    props = {}
    for attr, _, type_, default, (low, high) in ARGS:
        item: dict[str, Any] = {"title": attr.replace("_", " ").title(), "type": types[type_]}
        if default is not None:
            item["default"] = default
        if low is not None:
            item["minimum"] = low
        if high is not None:
            item["maximum"] = high
        if type_ == "merge":
            item["enum"] = MERGE_INVERT
        props[attr] = item
    props["is_api"] = {"title": "Is Api", "default": True, "type": "boolean"}
    return {"title": "ADetailerArgs", "type": "object", "properties": props,
            "additionalProperties": False}  # fmt: skip
