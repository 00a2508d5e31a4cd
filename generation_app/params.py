"""Generation parameters, validated once for sessions, presets and generation requests.

A bad default is refused when it is saved (a session's ``custom_settings``, a preset's
``params``), with the same rules a ``POST /generate/*`` request meets, so it never reaches a
job. Names (checkpoint, VAE, sampler, scheduler, upscaler, ControlNet model and module) are
checked against what the backends list (``a1111hub.services.models_catalog``), matched the
way A1111 and the ControlNet extension match them, because A1111 silently falls back to
something else on an unknown sampler or checkpoint instead of failing.

Name checks are skipped, without an error, when no backend answers: the value may well be
right, and refusing every save while A1111 restarts would be worse than a job that later
fails with a clear message. A catalog passed in that lacks a list skips that list's check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty

from a1111hub.errors import BackendUnavailable, Conflict

logger = logging.getLogger(__name__)

Catalog = dict[str, Any]

VAE_SPECIAL = ("Automatic", "None")


def load_catalog() -> Catalog | None:
    """The merged model catalog, or None when no backend answers (name checks are skipped)."""
    from a1111hub.services import models_catalog  # imports the backends: load it late

    try:
        return models_catalog()
    except BackendUnavailable as exc:
        logger.warning("Name checks skipped, no backend answered: %s", exc.detail)
        return None


class OptionalBooleanField(serializers.BooleanField):
    """A boolean that stays absent when a multipart form leaves it out.

    DRF's BooleanField turns a missing HTML-form value into False, which would inject
    ``enable_hr=False`` into every multipart request and break "a partial dict stays partial".
    """

    default_empty_html = empty


def _multiple_of_8(value: int) -> None:
    if value % 8:
        raise serializers.ValidationError(
            f"Must be a multiple of 8 (A1111 rounds it otherwise); try {value - value % 8} "
            f"or {value - value % 8 + 8}."
        )


def _size_field(limit: int) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=settings.HUB_MIN_SIZE,
        max_value=limit,
        validators=[_multiple_of_8],
    )


def _hr_resize_field(limit: int) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=limit * int(settings.HUB_MAX_HR_SCALE),
        help_text="Hires target size in pixels; 0 = use hr_scale.",
    )


def _prompt_field() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=settings.HUB_MAX_PROMPT_CHARS,
    )


class GenerationParamsSerializer(serializers.Serializer):
    """Every generation field of the brief's request, all optional and with no defaults.

    A partial dict stays partial: the payload builder merges server defaults < session
    ``custom_settings`` < preset < request, and only then fills what is still missing.
    Names are checked against ``context["catalog"]`` if given, else the cached catalog.
    """

    prompt = _prompt_field()
    negative_prompt = _prompt_field()
    checkpoint = serializers.CharField(
        required=False, help_text="Any A1111 checkpoint alias: title, file name, stem, hash."
    )
    vae = serializers.CharField(required=False, help_text='A VAE file name, "Automatic" or "None".')
    sampler_name = serializers.CharField(
        required=False, help_text='A sampler name, or a legacy name such as "DPM++ 2M Karras".'
    )
    scheduler = serializers.CharField(required=False, help_text="Scheduler name or label.")
    steps = serializers.IntegerField(required=False, min_value=1, max_value=settings.HUB_MAX_STEPS)
    cfg_scale = serializers.FloatField(required=False, min_value=1, max_value=30)
    width = _size_field(settings.HUB_MAX_WIDTH)
    height = _size_field(settings.HUB_MAX_HEIGHT)
    batch_count = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.HUB_MAX_IMAGES
    )
    batch_size = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.HUB_MAX_IMAGES
    )
    seed = serializers.IntegerField(required=False, min_value=-1, max_value=2**63 - 1)
    subseed = serializers.IntegerField(required=False, min_value=-1, max_value=2**63 - 1)
    subseed_strength = serializers.FloatField(required=False, min_value=0, max_value=1)
    enable_hr = OptionalBooleanField(required=False)
    hr_scale = serializers.FloatField(
        required=False, min_value=1, max_value=settings.HUB_MAX_HR_SCALE
    )
    hr_upscaler = serializers.CharField(
        required=False, help_text='An upscaler or latent mode, e.g. "4x-UltraSharp", "Latent".'
    )
    hr_second_pass_steps = serializers.IntegerField(
        required=False, min_value=0, max_value=settings.HUB_MAX_STEPS
    )
    hr_resize_x = _hr_resize_field(settings.HUB_MAX_WIDTH)
    hr_resize_y = _hr_resize_field(settings.HUB_MAX_HEIGHT)
    denoising_strength = serializers.FloatField(required=False, min_value=0, max_value=1)
    restore_faces = OptionalBooleanField(required=False)
    tiling = OptionalBooleanField(required=False)
    clip_skip = serializers.IntegerField(required=False, min_value=1, max_value=12)
    styles = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Prompt style names."
    )

    def _check_name(self, field: str, value: str) -> str:
        # Field-level, so a bad name is reported together with any bad number.
        if "_catalog" not in self.__dict__:
            catalog = self.context.get("catalog")
            self._catalog = (load_catalog() or {}) if catalog is None else catalog
        errors = check_names({field: value}, self._catalog)
        if errors:
            raise serializers.ValidationError(errors[field])
        return value

    def validate_checkpoint(self, value: str) -> str:
        return self._check_name("checkpoint", value)

    def validate_vae(self, value: str) -> str:
        return self._check_name("vae", value)

    def validate_sampler_name(self, value: str) -> str:
        return self._check_name("sampler_name", value)

    def validate_scheduler(self, value: str) -> str:
        return self._check_name("scheduler", value)

    def validate_hr_upscaler(self, value: str) -> str:
        return self._check_name("hr_upscaler", value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        images = attrs.get("batch_size", 1) * attrs.get("batch_count", 1)
        if images > settings.HUB_MAX_IMAGES:
            raise serializers.ValidationError(
                {
                    "batch_size": [
                        f"batch_size x batch_count is {images}; at most "
                        f"{settings.HUB_MAX_IMAGES} images per request."
                    ]
                }
            )
        return attrs


GENERATION_FIELDS = tuple(GenerationParamsSerializer().fields)


def validate_generation_params(data: dict, *, catalog: Catalog | None = None) -> dict:
    """Check a (partial) dict of generation fields; return it cleaned, with only its keys.

    Unknown keys are refused: a typo in a saved default would otherwise be ignored forever.
    ``catalog=None`` fetches the cached catalog only if a name is present.
    """
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": ["Expected an object of generation parameters."]}
        )
    unknown = [key for key in data if key not in GENERATION_FIELDS]
    if unknown:
        raise serializers.ValidationError(
            {
                key: [f"Unknown generation parameter. Known: {', '.join(GENERATION_FIELDS)}."]
                for key in unknown
            }
        )
    serializer = GenerationParamsSerializer(data=data, context={"catalog": catalog})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- names, matched the way A1111 matches them ----------------------------------------
def _valid(kind: str, value: str, names: list[str]) -> str:
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


def check_names(attrs: dict[str, Any], catalog: Catalog) -> dict[str, list[str]]:
    """Field errors for names the catalog does not have; lists absent from it are skipped."""
    errors: dict[str, list[str]] = {}
    schedulers = catalog.get("schedulers")
    sampler = attrs.get("sampler_name")
    if sampler and catalog.get("samplers") is not None:
        base, _ = split_sampler_name(sampler, schedulers or [])
        names = [s["name"] for s in catalog["samplers"]]
        if base not in names:
            errors["sampler_name"] = [_valid("sampler", sampler, names)]
    scheduler = attrs.get("scheduler")
    if scheduler and schedulers is not None:
        valid = {s["name"] for s in schedulers} | {s["label"] for s in schedulers if s.get("label")}
        if scheduler not in valid:
            labels = [s.get("label") or s["name"] for s in schedulers]
            errors["scheduler"] = [_valid("scheduler", scheduler, labels)]
    checkpoint = attrs.get("checkpoint")
    if checkpoint and catalog.get("checkpoints") is not None:
        if not any(checkpoint in checkpoint_aliases(c) for c in catalog["checkpoints"]):
            titles = [c["title"] for c in catalog["checkpoints"]]
            errors["checkpoint"] = [_valid("checkpoint", checkpoint, titles)]
    vae = attrs.get("vae")
    if vae and catalog.get("vaes") is not None:
        names = [*VAE_SPECIAL, *(v["name"] for v in catalog["vaes"])]
        if vae not in names:
            errors["vae"] = [_valid("VAE", vae, names)]
    upscaler = attrs.get("hr_upscaler")
    if upscaler and catalog.get("upscalers") is not None:
        names = [u["name"] for u in catalog["upscalers"]]
        if upscaler not in names:
            errors["hr_upscaler"] = [_valid("upscaler", upscaler, names)]
    return errors


# --- session custom_settings ----------------------------------------------------------
# The brief's session shows {"preferred_sampler": ..., "default_steps": ...}; these names
# and the plain request field names are both accepted, and stored as the user sent them.
CUSTOM_SETTINGS_ALIASES: dict[str, str] = {
    "preferred_sampler": "sampler_name",
    "preferred_scheduler": "scheduler",
    "preferred_checkpoint": "checkpoint",
    "preferred_vae": "vae",
    "preferred_upscaler": "hr_upscaler",
    "default_steps": "steps",
    "default_cfg": "cfg_scale",
    "default_cfg_scale": "cfg_scale",
    "default_width": "width",
    "default_height": "height",
    "default_negative_prompt": "negative_prompt",
    "default_clip_skip": "clip_skip",
}


def custom_setting_field(key: str) -> str | None:
    """The generation field a custom_settings key sets, or None if it sets nothing."""
    field = CUSTOM_SETTINGS_ALIASES.get(key, key)
    return field if field in GENERATION_FIELDS else None


def custom_settings_to_params(custom_settings: dict) -> dict:
    """Session custom_settings as generation fields, for the payload builder."""
    return {
        custom_setting_field(key): value
        for key, value in custom_settings.items()
        if custom_setting_field(key)
    }


def check_custom_settings_keys(keys) -> None:
    """Refuse keys that set no generation field (a typo would otherwise be kept forever)."""
    unknown = [key for key in keys if custom_setting_field(key) is None]
    if unknown:
        known = ", ".join(sorted({*GENERATION_FIELDS, *CUSTOM_SETTINGS_ALIASES}))
        raise serializers.ValidationError(
            {key: [f"Unknown setting. Known: {known}."] for key in unknown}
        )


def validate_custom_settings(custom_settings: dict, *, catalog: Catalog | None = None) -> dict:
    """Check custom_settings with the generation rules; errors name the user's own keys.

    Returns the settings under the keys sent, with cleaned values.
    """
    check_custom_settings_keys(custom_settings)
    errors: dict[str, list[str]] = {}
    by_field: dict[str, str] = {}
    for key in custom_settings:
        field = custom_setting_field(key)
        if field in by_field:
            errors[key] = [f"Sets {field!r} like {by_field[field]!r}; send only one of them."]
        else:
            by_field[field] = key
    if errors:
        raise serializers.ValidationError(errors)
    params = {field: custom_settings[key] for field, key in by_field.items()}
    try:
        cleaned = validate_generation_params(params, catalog=catalog)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError(
            {by_field.get(field, field): messages for field, messages in exc.detail.items()}
        ) from None
    return {by_field[field]: value for field, value in cleaned.items()}


# --- ControlNet units (sd-webui-controlnet v1.1.455) -----------------------------------
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
# user configured (the brief's session shows none with `enabled`) is meant to run.
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
    """One ControlNet unit's settings; the brief's ``preprocessor`` is ``module``'s alias."""

    enabled = OptionalBooleanField(required=False)
    module = serializers.CharField(required=False, help_text='Preprocessor, e.g. "openpose_full".')
    preprocessor = serializers.CharField(required=False, help_text="Alias of module (the brief's).")
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


def controlnet_unavailable() -> Conflict:
    return Conflict(
        "No backend has the ControlNet extension (Mikubill/sd-webui-controlnet), so ControlNet "
        "cannot be used. Install it in A1111 and restart it; GET /models shows each backend's "
        "extensions.",
        code="controlnet_unavailable",
    )


def find_controlnet_module(name: str, modules: list[str]) -> str | None:
    """The module's listed name; the extension matches module names case-insensitively."""
    return next((m for m in modules if m.lower() == name.lower()), None)


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
        canonical = find_controlnet_module(module, modules)
        if canonical is None:
            key = "preprocessor" if "preprocessor" in unit else "module"
            errors[key] = [_valid("ControlNet module", module, modules)]
        else:
            unit["module"] = canonical
    model = unit.get("model")
    if model and model != "None":
        models = controlnet.get("models") or []
        if find_controlnet_model(model, models) is None:
            errors["model"] = [_valid("ControlNet model", model, ["None", *models])]
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
